# Helpers that give every target of ours the same warnings and sanitizer flags.
# Third-party code (generated protobuf) is compiled without -Werror.

set(ATTEST_WARNINGS -Wall -Wextra -Werror)
if(ATTEST_SANITIZE)
  # g++ 12 reports false maybe-uninitialized warnings inside libstdc++
  # (std::regex, std::function) once -fsanitize instruments them.
  list(APPEND ATTEST_WARNINGS -Wno-maybe-uninitialized)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

function(attest_warnings target)
  target_compile_options(${target} PRIVATE ${ATTEST_WARNINGS})
endfunction()

# attest_library(NAME SOURCES... [DEPS ...]) - a static library rooted at the
# project so headers are included as "common/<module>/<file>.h".
function(attest_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  attest_warnings(${name})
endfunction()

function(attest_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  attest_warnings(${name})
endfunction()

# attest_test(NAME SOURCES... DEPS ... [LABELS ...] [KAFKA]) - a GoogleTest binary
# registered with CTest test by test.
function(attest_test name)
  cmake_parse_arguments(ARG "KAFKA" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    ATTEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    ATTEST_BINARY_DIR="${PROJECT_BINARY_DIR}"
    ATTEST_TESTDATA_DIR="${PROJECT_SOURCE_DIR}/../shared/testdata")
  attest_warnings(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  include(GoogleTest)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
  if(ARG_KAFKA)
    # On the run's Apache Kafka cluster (tests/CMakeLists.txt starts it once;
    # tests/harness/kafka/kafka_cluster.h attaches to it). Set after discovery
    # from the list it leaves in ${name}_TESTS: gtest_discover_tests cannot
    # pass a property whose value is a list (two labels).
    target_link_libraries(${name} PRIVATE attest_harness_kafka)
    list(APPEND ARG_LABELS kafka)
    set(kafka_props "${CMAKE_CURRENT_BINARY_DIR}/${name}_kafka_props.cmake")
    file(WRITE ${kafka_props}
      "if(${name}_TESTS)\n"
      "  set_tests_properties(\${${name}_TESTS} PROPERTIES LABELS \"${ARG_LABELS}\"\n"
      "    FIXTURES_REQUIRED kafka_cluster\n"
      "    ENVIRONMENT \"ATTEST_TEST_KAFKA_DEFAULT_DIR=${ATTEST_TEST_KAFKA_DIR}\")\n"
      "endif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${kafka_props})
  endif()
endfunction()

# attest_benchmark(NAME SOURCES... DEPS ...) - a Google Benchmark binary (not
# a test: timing targets live here, never in CTest).
function(attest_benchmark name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark)
  target_compile_definitions(${name} PRIVATE
    ATTEST_TESTDATA_DIR="${PROJECT_SOURCE_DIR}/../shared/testdata")
  attest_warnings(${name})
endfunction()

# attest_fuzzer(NAME SOURCES... DEPS ... CORPUS dir...) - a libFuzzer target
# (configure with CXX=clang++ -DATTEST_FUZZ=ON; see scripts/fuzz.sh). The seed
# corpus directories are recorded for scripts/fuzz.sh in fuzzers.txt.
function(attest_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;CORPUS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  attest_warnings(${name})
  list(JOIN ARG_CORPUS " " corpus)
  file(APPEND ${PROJECT_BINARY_DIR}/fuzzers.txt "${name} ${corpus}\n")
endfunction()
