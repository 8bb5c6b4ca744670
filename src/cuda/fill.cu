// typenet's CUDA kernels live in this folder: build.rs compiles each .cu file to PTX for the
// target GPU, and `OUT_DIR/cuda_kernels.rs` hands the crate the PTX to load through cudarc.
// This one fills a buffer with a value; a grid-stride loop, so any launch size covers `n`.
extern "C" __global__ void typenet_fill_f32(float *out, float value, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        out[i] = value;
    }
}
