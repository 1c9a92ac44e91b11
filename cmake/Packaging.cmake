# Debian packages (./build.sh package): `isolator` (pihost, samplehost, isolatorctl and
# samplelib) and `isolator-dev` (headers, the library, its CMake package and pkg-config file).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME isolator)
set(CPACK_PACKAGE_VENDOR "the isolator authors")
set(CPACK_PACKAGE_CONTACT "isolator maintainers <isolator@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Runs native plugin code in contained child processes")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# The runtime's library dependencies come from dpkg-shlibdeps (libc, libstdc++, spdlog...).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME isolator)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION utils)
# pihost's crash reporter loads libdw with dlopen (shlibdeps cannot see it) to name a crashed
# stack's functions and lines; without it a crash report has libraries and offsets only.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS "libdw1")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME isolator-dev)
# The headers need Asio 1.81 (any_completion_handler) and spdlog; the library pihost.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "isolator (= ${PROJECT_VERSION}), libboost1.81-dev, libspdlog-dev, libfmt-dev")
# isolator/values.hpp alone needs msgpack-cxx; Debian 12's package of it depends on the Boost
# 1.74 headers, which conflict with 1.81, so it is suggested, not required.
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS "libmsgpack-cxx-dev")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "isolator's child host (pihost), the samplehost testbed and isolatorctl, the list of live isolates")
set(CPACK_COMPONENT_DEV_DESCRIPTION "isolator's headers, static library, CMake package and pkg-config file")
include(CPack)
