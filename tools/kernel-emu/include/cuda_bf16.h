// Emulator stand-in for CUDA's cuda_bf16.h: __nv_bfloat16 and its conversions live in hp_emu.h.
#pragma once
#include "hp_emu.h"
