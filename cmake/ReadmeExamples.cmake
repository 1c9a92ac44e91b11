# ctest readme_examples_are_the_built_files: every ```cpp block of the README is one of the
# files ctest builds and runs, word for word (the file's leading // comment aside), so that
# an example in the README cannot drift from the code that is tested.
# Usage: cmake -DROOT=<source dir> -P ReadmeExamples.cmake
file(READ "${ROOT}/README.md" readme)
set(examples example/quickstart/main.cpp example/run_program/main.cpp example/plugin/plugin.cpp
             example/greeter/plugin.cpp)
set(found 0)
foreach(example IN LISTS examples)
  file(READ "${ROOT}/${example}" code)
  # Drop the file's leading comment lines (what the file is for, which the README says).
  string(REGEX REPLACE "^(//[^\n]*\n)+" "" code "${code}")
  string(FIND "${readme}" "```cpp\n${code}```" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "README.md has no ```cpp block equal to ${example} (without its leading "
                        "comment): update one from the other")
  endif()
  math(EXPR found "${found} + 1")
endforeach()
# And no other ```cpp block: each must be one of the files above.
string(REGEX MATCHALL "```cpp\n" blocks "${readme}")
list(LENGTH blocks count)
if(NOT count EQUAL found)
  message(FATAL_ERROR "README.md has ${count} ```cpp blocks but ${found} are built and run; "
                      "add the new one to cmake/ReadmeExamples.cmake and to example/")
endif()
message(STATUS "README examples: ${found} blocks, each the file ctest builds and runs")
