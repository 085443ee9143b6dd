# Every third-party dependency is looked up here, once, from Debian's packages.
find_package(Threads REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(nlohmann_json 3.10 CONFIG REQUIRED)
find_package(Eigen3 3.4 CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(doctest CONFIG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(HDF5 REQUIRED COMPONENTS C)
# Export: ONNX's own protobuf classes and checker (libonnx-dev). Serving has its own HTTP/1.1 loop
# (engine/serve/http_server.h says why Debian's cpp-httplib 0.11 could not be kept).
find_package(ONNX CONFIG REQUIRED)
find_package(Protobuf REQUIRED)
find_package(PkgConfig REQUIRED)
# Packaging and pushing images (engine/oci/, full binary only): libcurl for the registry API, libarchive
# for tar layers.
find_package(CURL REQUIRED)
find_package(LibArchive REQUIRED)

# yaml-cpp 0.7 exports the target `yaml-cpp` without a namespace.
if(TARGET yaml-cpp::yaml-cpp)
  set(DLCTL_YAML_TARGET yaml-cpp::yaml-cpp)
else()
  set(DLCTL_YAML_TARGET yaml-cpp)
endif()

add_library(dlctl_hdf5 INTERFACE)
target_include_directories(dlctl_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(dlctl_hdf5 INTERFACE ${HDF5_C_LIBRARIES} ${HDF5_LIBRARIES})
target_compile_definitions(dlctl_hdf5 INTERFACE ${HDF5_DEFINITIONS} H5_USE_110_API)
