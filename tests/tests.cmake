# Every tests/test_*.c is one test program; every tests/cli_*.sh is one command-line test.
# All tests run with the Khronos validation layer on (CTVK_VALIDATION=1): any validation message
# makes the test fail. Mesa's shader cache and ctvk's pipeline cache live inside the build tree.
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/test-cache/mesa)
set(CTVK_TEST_ENV
  "CTVK_VALIDATION=1"
  "CTVK_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache"
  "MESA_SHADER_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache/mesa"
  "LP_NUM_THREADS=2"
  "CTVK_SHARED=${CMAKE_SOURCE_DIR}/../shared"
  "CTVK_SOURCE=${CMAKE_SOURCE_DIR}"
  "CTVK_BIN=$<TARGET_FILE:ctvk-bin>"
  "CTVK_BUILD_DIR=${CMAKE_BINARY_DIR}"
  "CTVK_TEST_MPI=$<IF:$<BOOL:${CTVK_MPI}>,ON,OFF>")
set(CTVK_TEST_TIMEOUT 600)
if(CTVK_SANITIZE)
  # a program linking the instrumented library must be instrumented too
  list(APPEND CTVK_TEST_ENV "CTVK_EMBED_CFLAGS=-fsanitize=address,undefined")
  set(CTVK_TEST_TIMEOUT 1800)   # instrumented, everything (shader compiles included) runs slower
endif()
file(GLOB CTVK_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/test_*.c)
foreach(src ${CTVK_TEST_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} ${CMAKE_SOURCE_DIR}/tests/check.c)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR} ${SPV_DIR} ${VOLK_SOURCE_DIR}
                             ${VULKAN_INCLUDE_DIRS} ${INIPARSER_INCLUDE_DIR} ${HDF5_INCLUDE_DIRS} ${NIFTI_INCLUDE_DIR})
  target_compile_definitions(${name} PRIVATE VK_NO_PROTOTYPES)
  target_link_libraries(${name} PRIVATE ctvk)
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${CTVK_TEST_ENV}" TIMEOUT ${CTVK_TEST_TIMEOUT})
endforeach()
file(GLOB CTVK_CLI_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/cli_*.sh)
foreach(src ${CTVK_CLI_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME ${name} COMMAND bash ${src} WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${CTVK_TEST_ENV}" TIMEOUT ${CTVK_TEST_TIMEOUT} SKIP_RETURN_CODE 77)
endforeach()

# The host side of the allocator under valgrind: no leaks, no invalid accesses.
find_program(VALGRIND valgrind)
if(VALGRIND AND NOT CTVK_SANITIZE)
  add_test(NAME test_suballoc_valgrind
           COMMAND ${VALGRIND} --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible
                   $<TARGET_FILE:test_suballoc>)
endif()

# Fuzzing (optional): -DCTVK_FUZZ=ON with clang builds tests/fuzz/fuzz_* (see tools/fuzz.sh).
if(CTVK_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  include(${CMAKE_SOURCE_DIR}/tests/fuzz/CMakeLists.txt)
elseif(CTVK_FUZZ)
  message(WARNING "CTVK_FUZZ needs clang (CC=clang): fuzz targets not built")
endif()
