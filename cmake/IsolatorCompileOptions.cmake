# Warnings and sanitizers for isolator's own targets, as one INTERFACE target to link.
add_library(isolator_compile_options INTERFACE)
target_compile_options(isolator_compile_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wcast-align -Wimplicit-fallthrough
  $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual>)

# Sanitizers apply to everything built here, pihost and the test plugins included, so a
# plugin's bad access is reported by the same runtime that runs pihost.
# Without UBSan's vptr check: its runtime opens a pipe to test that a vtable is readable
# (IsAccessibleMemoryRange), so in a process with no descriptor left (what the Descriptors
# tests make) it reports every sound object it checks as an "invalid vptr" and aborts.
# ASan still catches the use-after-free that a wrong dynamic type usually is.
if(ISOLATOR_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(ISOLATOR_SANITIZE_THREAD)
  # -Wno-tsan: libstdc++ 12's shared_ptr uses a fence TSan cannot model; it warns in every file.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer $<$<COMPILE_LANGUAGE:CXX>:-Wno-tsan>)
  add_link_options(-fsanitize=thread)
endif()

# Plugins that misbehave on purpose (null stores, aborts) must die of their own signals;
# UBSan would report and exit first. They are built without sanitizers; pihost keeps them.
# Linked without them too: a test program linked with a sanitizer's runtime has its malloc and
# memset intercepted, and TSan then writes shadow memory for every byte it touches (a memory
# hog of 384 MiB was charged past 1 GiB).
function(isolator_unsanitized target)
  if(ISOLATOR_SANITIZE OR ISOLATOR_SANITIZE_THREAD)
    target_compile_options(${target} PRIVATE -fno-sanitize=all)
    target_link_options(${target} PRIVATE -fno-sanitize=all)
  endif()
endfunction()
