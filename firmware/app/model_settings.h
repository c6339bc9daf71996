/* The model's description, written by `edgemb export` into model_settings.c. */
#ifndef EDGEMB_MODEL_SETTINGS_H
#define EDGEMB_MODEL_SETTINGS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EM_MAX_DIMS 6

typedef struct {
  uint8_t type;  /* TFLite TensorType: 9 = int8, 3 = uint8, 0 = float32 */
  uint8_t ndims;
  uint32_t dims[EM_MAX_DIMS];
  float scale;
  int32_t zero_point;
  uint32_t bytes;
} em_tensor_desc_t;

typedef struct {
  uint8_t fingerprint[32]; /* SHA-256 of the .tflite flatbuffer */
  em_tensor_desc_t input;
  em_tensor_desc_t output;
  uint32_t tflm_arena_bytes; /* TFLite Micro arena: measured minimum plus margin */
  uint16_t num_labels;
  const char *const *labels;
} em_model_settings_t;

extern const em_model_settings_t em_model_settings;

#ifdef __cplusplus
}
#endif

#endif /* EDGEMB_MODEL_SETTINGS_H */
