/* edgemb.link._framing: frames encoded and decoded by the firmware's own C code.
 *
 * Uploads are the one place where the host encodes much: a 27 KB input is
 * COBS-encoded and CRC-checked on every upload, and in Python that costs more
 * than the pseudo-terminal takes to move it. This module puts the firmware's
 * encoder and decoder (firmware/app/protocol.c, with the host's
 * carry-less-multiply CRC) behind two functions; edgemb.link.frames falls back
 * to its pure-Python framing, which makes the same bytes, when this module was
 * not built. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "protocol.h"

/* Where em_frame_* write: a bytes object sized for the worst case. */
typedef struct {
  uint8_t *out;
  size_t len;
} sink_t;

static void sink_write(void *ctx, const uint8_t *data, size_t len) {
  sink_t *sink = (sink_t *)ctx;
  memcpy(sink->out + sink->len, data, len);
  sink->len += len;
}

/* COBS adds one byte per 254 and one more; the header, CRC and delimiter 7. */
static Py_ssize_t worst_case(Py_ssize_t payload_len) {
  Py_ssize_t body = payload_len + 6;
  return body + body / 254 + 2;
}

PyDoc_STRVAR(encode_frame_doc,
             "encode_frame(msg_type, seq, payload=b'', tail=b'') -> bytes\n\n"
             "The frame on the wire, delimiter included: [type][seq][payload][CRC-32 LE],\n"
             "COBS-encoded, then 0x00. The payload is payload followed by tail: a\n"
             "LOAD's header and its data, without joining them first.");

/* An optional bytes-like argument as a buffer; an empty one when absent. */
static int get_buffer(PyObject *obj, Py_buffer *view) {
  if (obj == NULL) {
    view->buf = (void *)"";
    view->len = 0;
    view->obj = NULL;
    return 0;
  }
  return PyObject_GetBuffer(obj, view, PyBUF_SIMPLE);
}

static void release_buffer(Py_buffer *view) {
  if (view->obj != NULL) PyBuffer_Release(view);
}

/* A frame's type, seq and payload in two pieces, as both encoders take them. */
typedef struct {
  int msg_type, seq;
  Py_buffer payload, tail;
} frame_args_t;

/* Checks type and seq and gets the payload's buffers: 0, or -1 with an
 * exception set. */
static int frame_args_get(frame_args_t *a, PyObject *payload_obj, PyObject *tail_obj) {
  if (a->msg_type < 0 || a->msg_type > 0xFF || a->seq < 0 || a->seq > 0xFF) {
    PyErr_Format(PyExc_ValueError, "type %d and seq %d must each fit in a byte", a->msg_type,
                 a->seq);
    return -1;
  }
  if (get_buffer(payload_obj, &a->payload) != 0) return -1;
  if (get_buffer(tail_obj, &a->tail) != 0) {
    release_buffer(&a->payload);
    return -1;
  }
  return 0;
}

static void frame_args_release(frame_args_t *a) {
  release_buffer(&a->payload);
  release_buffer(&a->tail);
}

/* Encodes the frame at `out`, which has room for worst_case(); its length. */
static size_t encode_to(uint8_t *out, const frame_args_t *a) {
  em_encoder_t enc;
  sink_t sink = {out, 0};
  /* The encoder touches only our buffers, so other threads may run. */
  Py_BEGIN_ALLOW_THREADS
  em_frame_begin(&enc, sink_write, &sink, (uint8_t)a->msg_type, (uint8_t)a->seq);
  em_frame_put(&enc, a->payload.buf, (size_t)a->payload.len);
  em_frame_put(&enc, a->tail.buf, (size_t)a->tail.len);
  em_frame_end(&enc);
  Py_END_ALLOW_THREADS
  return sink.len;
}

static PyObject *encode_frame(PyObject *module, PyObject *args) {
  frame_args_t a;
  PyObject *payload_obj = NULL, *tail_obj = NULL, *result;
  size_t len = 0;
  (void)module;
  if (!PyArg_ParseTuple(args, "ii|OO:encode_frame", &a.msg_type, &a.seq, &payload_obj,
                        &tail_obj))
    return NULL;
  if (frame_args_get(&a, payload_obj, tail_obj) != 0) return NULL;
  result = PyBytes_FromStringAndSize(NULL, worst_case(a.payload.len + a.tail.len));
  if (result != NULL) len = encode_to((uint8_t *)PyBytes_AS_STRING(result), &a);
  frame_args_release(&a);
  if (result == NULL || _PyBytes_Resize(&result, (Py_ssize_t)len) != 0) return NULL;
  return result;
}

PyDoc_STRVAR(encode_frame_into_doc,
             "encode_frame_into(buffer, start, msg_type, seq, payload=b'', tail=b'') -> int\n\n"
             "encode_frame(), written into a writable buffer from index `start` on;\n"
             "returns the index after the frame's delimiter. An upload encodes every\n"
             "frame into the same buffer: a new 27 KB object for each one costs more\n"
             "than the encoding (the allocator hands such blocks back to the system\n"
             "and faults them in again).");

static PyObject *encode_frame_into(PyObject *module, PyObject *args) {
  frame_args_t a;
  Py_buffer out;
  Py_ssize_t start, need, end = -1;
  PyObject *payload_obj = NULL, *tail_obj = NULL;
  (void)module;
  if (!PyArg_ParseTuple(args, "w*nii|OO:encode_frame_into", &out, &start, &a.msg_type, &a.seq,
                        &payload_obj, &tail_obj))
    return NULL;
  if (frame_args_get(&a, payload_obj, tail_obj) != 0) {
    PyBuffer_Release(&out);
    return NULL;
  }
  need = worst_case(a.payload.len + a.tail.len);
  if (start < 0 || start > out.len || out.len - start < need) {
    PyErr_Format(PyExc_ValueError,
                 "a frame of %zd payload bytes needs %zd bytes of buffer from index %zd, "
                 "the buffer has %zd",
                 a.payload.len + a.tail.len, need, start, out.len);
  } else {
    end = start + (Py_ssize_t)encode_to((uint8_t *)out.buf + start, &a);
  }
  frame_args_release(&a);
  PyBuffer_Release(&out);
  return end < 0 ? NULL : PyLong_FromSsize_t(end);
}

PyDoc_STRVAR(decode_frame_doc,
             "decode_frame(encoded) -> (msg_type, seq, payload) or None\n\n"
             "One frame from its encoded bytes (without the delimiter), or None when they\n"
             "are not a valid frame: the caller then asks the Python decoder what is\n"
             "wrong with them.");

static PyObject *decode_frame(PyObject *module, PyObject *arg) {
  Py_buffer encoded;
  uint8_t small[256];
  uint8_t *buf = small;
  em_decoder_t dec;
  em_frame_t frame;
  em_decode_result_t result = EM_DECODE_NONE;
  PyObject *answer = NULL;
  static const uint8_t delimiter = 0;
  (void)module;
  if (PyObject_GetBuffer(arg, &encoded, PyBUF_SIMPLE) != 0) return NULL;
  /* The decoded frame is never longer than its encoding. */
  if ((size_t)encoded.len > sizeof small) {
    buf = (uint8_t *)PyMem_Malloc((size_t)encoded.len);
    if (buf == NULL) {
      PyBuffer_Release(&encoded);
      return PyErr_NoMemory();
    }
  }
  em_decoder_init(&dec, buf, encoded.len > 0 ? (size_t)encoded.len : 1u);
  /* Data with a 0x00 inside is not one frame: the decoder would stop there. */
  if (encoded.len > 0 && memchr(encoded.buf, 0, (size_t)encoded.len) == NULL) {
    (void)em_decoder_feed(&dec, (const uint8_t *)encoded.buf, (size_t)encoded.len, &frame, &result);
    (void)em_decoder_feed(&dec, &delimiter, 1, &frame, &result);
  }
  if (result == EM_DECODE_FRAME) {
    answer = Py_BuildValue("(iiy#)", frame.type, frame.seq, (const char *)frame.payload,
                           (Py_ssize_t)frame.payload_len);
  } else {
    answer = Py_NewRef(Py_None);
  }
  if (buf != small) PyMem_Free(buf);
  PyBuffer_Release(&encoded);
  return answer;
}

static PyMethodDef methods[] = {
    {"encode_frame", encode_frame, METH_VARARGS, encode_frame_doc},
    {"encode_frame_into", encode_frame_into, METH_VARARGS, encode_frame_into_doc},
    {"decode_frame", decode_frame, METH_O, decode_frame_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "edgemb.link._framing",
    "Frames encoded and decoded by the firmware's C code (see edgemb.link.frames).", -1,
    methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__framing(void) {
  /* Build the CRC tables and probe the CPU now, while the GIL keeps this to
   * one thread. */
  (void)em_crc32_update(0, (const uint8_t *)"", 0);
  return PyModule_Create(&module_def);
}
