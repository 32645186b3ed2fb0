/* Linked into a static build of example.c by tools/check-install.sh: an application that has its
 * own protobuf-c ONNX code and functions of the names clrnn uses inside. libclrnn.a's internal
 * symbols are local (tools/cmake/localize_static.cmake), so these neither clash with clrnn's nor
 * replace them. */
int onnx__model_proto__get_packed_size(void);
int onnx__model_proto__get_packed_size(void) { return 1; }
const int onnx__attribute_proto__descriptor = 2;
int clrnn_fail(int status);
int clrnn_fail(int status) { return status; }
unsigned long clrnn_hash64(void);
unsigned long clrnn_hash64(void) { return 3; }
