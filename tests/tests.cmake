# Every tests/test_*.c is one test program; every tests/cli_*.sh is one command-line test.
# All tests run with the Khronos validation layer on (CTVK_VALIDATION=1): any validation message
# makes the test fail. Mesa's shader cache and ctvk's pipeline cache live inside the build tree.
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/test-cache/mesa)
set(CTVK_TEST_ENV
  "CTVK_VALIDATION=1"
  "CTVK_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache"
  "MESA_SHADER_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache/mesa"
  "LP_NUM_THREADS=2"
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

# Labels: a change is checked in seconds with `ctest -L kernels` (or net, ct, train, runtime, cli,
# mpi, drivers); `slow` marks the tests of minutes. `portable` is what .ci/run also runs on
# SwiftShader and under the limits clamp (CTVK_LIMITS=minimum): every kernel and network test and
# the pipeline CLI tests.
set(CTVK_LABEL_kernels test_act test_augment test_kernel_keys test_bn test_conv test_convert test_dense test_dropout
    test_elementwise test_grad test_loss test_nadam test_pool test_resize test_wino test_limits)
set(CTVK_LABEL_net test_net test_net_slices test_cam test_models test_checkpoint test_keras)
set(CTVK_LABEL_ct test_ct_folds test_ct_loader test_ct_phantom test_ct_select test_ct_tiff test_ct_clinical cli_ct_dataset cli_ct_dicom
    cli_ct_phantom cli_ct_select)
set(CTVK_LABEL_train test_eval test_stats test_identity cli_stats cli_cam cli_accuracy cli_eval cli_pipeline cli_train_faults cli_model_input cli_run_folder)
set(CTVK_LABEL_runtime cli_layers test_config test_config_table test_plumbing test_memory test_suballoc test_suballoc_valgrind test_pipeline_cache test_prewarm test_helpers test_profile test_weights_cache
    test_faults test_fuzz_regressions)
set(CTVK_LABEL_cli cli_accuracy cli_cam cli_bench_op cli_ct_dataset cli_ct_dicom cli_stats cli_ct_phantom cli_ct_select cli_drivers cli_errors cli_eval
    cli_install cli_keras cli_mpi cli_model_input cli_pipeline cli_renderdoc cli_run_folder cli_train_faults)
set(CTVK_LABEL_mpi cli_mpi)
list(APPEND CTVK_LABEL_cli cli_warmup)
set(CTVK_LABEL_drivers cli_drivers test_limits)
set(CTVK_LABEL_slow test_conv test_net test_net_slices test_cam cli_accuracy cli_mpi cli_drivers)
set(CTVK_LABEL_portable ${CTVK_LABEL_kernels} ${CTVK_LABEL_net} cli_pipeline cli_bench_op test_prewarm test_helpers test_weights_cache)
get_property(CTVK_ALL_TESTS DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY TESTS)
foreach(t ${CTVK_ALL_TESTS})
  set(labels "")
  foreach(l kernels net ct train runtime cli mpi drivers slow portable)
    if(t IN_LIST CTVK_LABEL_${l})
      list(APPEND labels ${l})
    endif()
  endforeach()
  if(NOT labels)
    message(FATAL_ERROR "test ${t} has no ctest label: add it to a CTVK_LABEL_* list in tests/tests.cmake")
  endif()
  set_tests_properties(${t} PROPERTIES LABELS "${labels}")
endforeach()

# Fuzzing (optional): -DCTVK_FUZZ=ON with clang builds tests/fuzz/fuzz_* (see tools/fuzz.sh).
if(CTVK_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  include(${CMAKE_SOURCE_DIR}/tests/fuzz/CMakeLists.txt)
elseif(CTVK_FUZZ)
  message(WARNING "CTVK_FUZZ needs clang (CC=clang): fuzz targets not built")
endif()
