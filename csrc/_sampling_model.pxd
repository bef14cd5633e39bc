# C-level model interface shared by the NUTS kernel (_nuts.pyx) and the compiled models
# (_models.pyx). Only plain C types live here, so cimporting it creates no runtime import.
#
# A model is a function pointer plus an opaque context: ``fn(ctx, q, grad)`` returns the log
# density at the unconstrained point ``q`` (length ``dim``) and writes its gradient to ``grad``.
# A function that fails sets ``status`` to a non-zero value; the sampler then stops the chain.
# Models are exchanged between extension modules inside a PyCapsule named
# "deconv.sampling.ModelHandle" pointing at this struct.

ctypedef double (*logp_grad_fn)(void* ctx, const double* q, double* grad) noexcept nogil

ctypedef struct ModelHandle:
    logp_grad_fn fn
    void* ctx
    Py_ssize_t dim
    int status
