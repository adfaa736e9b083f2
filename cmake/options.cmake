# Every build option and compiler flag of the project lives here.
option(KT_WERROR "Treat warnings as errors" OFF)
option(KT_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(KT_FUZZ "Build the libFuzzer targets (needs clang)" OFF)
option(KT_BUILD_TESTS "Build the Criterion and CLI tests" ON)

set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
if(NOT CMAKE_BUILD_TYPE)
    set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()

add_compile_definitions(_GNU_SOURCE KT_VERSION="${PROJECT_VERSION}")
add_compile_options(-Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes
                    -Wvla -Wpointer-arith -Wcast-qual -Wundef -fno-common
                    -fstack-protector-strong -fstack-clash-protection)
if(KT_WERROR)
    add_compile_options(-Werror)
endif()

if(KT_SANITIZE OR KT_FUZZ)
    # FORTIFY_SOURCE and the sanitizers replace the same functions; keep the sanitizers.
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
else()
    add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3)
endif()
if(KT_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link)
endif()

add_link_options(-pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack)
