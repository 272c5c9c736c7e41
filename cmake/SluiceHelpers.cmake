# -Wall -Wextra -Werror applies to the project's own targets only, so that
# warnings in Debian's headers never break the build.
function(sluice_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers
    # GCC 12 misreports Asio coroutine frames (operator new/delete pairs): a known false positive.
    -Wno-mismatched-new-delete)
endfunction()

# sluice_library(name SOURCES ... DEPS ...): one static library per folder.
function(sluice_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  sluice_warnings(${name})
endfunction()

# sluice_test(name SOURCES ... LIBS ... LABELS ...): a GoogleTest binary whose
# cases are registered with ctest. LABELS: unit, kafka (needs the real broker),
# pg (needs the real PostgreSQL), interop (third-party SMPP peers), e2e.
function(sluice_test name)
  # SERIAL: the test measures rates or latencies under load; it runs alone
  # so that the other tests' CPU does not decide its result.
  cmake_parse_arguments(ARG "SERIAL" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main GTest::gmock Threads::Threads)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  sluice_warnings(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  set(serial FALSE)
  if(ARG_SERIAL)
    set(serial TRUE)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT} RUN_SERIAL ${serial}
    DISCOVERY_TIMEOUT 30)
endfunction()
