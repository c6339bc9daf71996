# The versions of the managed components the firmware was built with, read from
# the project's dependencies.lock, so that the board can name them in its
# handshake (INFO runtime_version) and a mismatch with the host's TFLite Micro
# can be traced to the code that produced it.
#
# The component manager writes dependencies.lock before any component's
# CMakeLists.txt is processed (ESP-IDF tools/cmake/build.cmake,
# prepare_dependencies). Each component is a two-space-indented key, and its own
# version a four-space-indented `version:` below it (the versions of what it
# depends on are indented further):
#
#   dependencies:
#     espressif/esp-nn:
#       component_hash: ...
#       dependencies:
#       - name: idf
#         version: '>=4.2'
#       version: 1.2.2
#
# Usable with `cmake -P` as well (tests/test_esp32.py runs it that way).

# Sets out_var to the locked version of `component` (e.g. espressif/esp-nn),
# or to "unknown" when the lock file or the component is not there.
function(edgemb_locked_version lock_file component out_var)
    set(version "unknown")
    if(EXISTS "${lock_file}")
        file(STRINGS "${lock_file}" lines)
        set(inside FALSE)
        foreach(line IN LISTS lines)
            if(line MATCHES "^  [^ -][^:]*:$")
                # The next component: is it the one asked for?
                if(line STREQUAL "  ${component}:")
                    set(inside TRUE)
                else()
                    set(inside FALSE)
                endif()
            elseif(line MATCHES "^[^ ]")
                set(inside FALSE) # a top-level key: the dependencies are over
            elseif(inside AND line MATCHES "^    version: *['\"]?([^'\"]+)['\"]?$")
                set(version "${CMAKE_MATCH_1}")
                set(inside FALSE)
            endif()
        endforeach()
    endif()
    set(${out_var} "${version}" PARENT_SCOPE)
endfunction()

# Stops the build when an esp-nn older than `minimum` is locked: before esp-nn
# 1.2.2 its conv and depthwise conv kernels always requantize with the fast
# rounding that is not bit-exact with TFLite Micro's reference kernels, and
# CONFIG_NN_SKIP_NUDGE does not exist (esp-nn commit aa8dbc2). A version the
# lock does not name ("unknown") is left to the component manager's solver.
function(edgemb_require_esp_nn version minimum)
    string(REGEX REPLACE "~.*$" "" plain "${version}") # 1.2.2~1: a packaging revision
    if(NOT version STREQUAL "unknown" AND plain VERSION_LESS minimum)
        message(FATAL_ERROR
            "edgemb: dependencies.lock holds espressif/esp-nn ${version}; edgemb needs "
            "${minimum} or later, the first whose kernels are bit-exact with TFLite Micro's "
            "reference kernels. Run `idf.py update-dependencies` in this project (or delete "
            "dependencies.lock), then build again.")
    endif()
endfunction()
