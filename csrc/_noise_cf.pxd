# Characteristic functions of the measurement-error laws of deconv.noise at unit standard
# deviation, for compiled kernels: phi_U(t) = std_cf(code, param, sd * t).
# Codes (must match deconv.noise.*.kernel_code):
#   0 normal, 1 laplace, 2 uniform, 3 student-t (param = df > 2), 4 centred gamma (param = shape)
# Inline and nogil; no validation (the Python layer checks codes and parameters).
from libc.math cimport exp, sin, cos, sqrt, log, atan, fabs, lgamma
from scipy.special.cython_special cimport kve

cdef inline double complex std_cf(int code, double param, double u) noexcept nogil:
    cdef double a, z, x, nu, re_log, im_log
    if code == 0:
        return exp(-0.5 * u * u)
    elif code == 1:
        # Laplace with b = 1/sqrt(2): 1 / (1 + b^2 u^2)
        return 1.0 / (1.0 + 0.5 * u * u)
    elif code == 2:
        # uniform on [-sqrt(3), sqrt(3)]
        a = 1.7320508075688772 * u
        if fabs(a) < 1e-8:
            return 1.0 - a * a / 6.0
        return sin(a) / a
    elif code == 3:
        nu = param
        z = sqrt(nu - 2.0) * fabs(u)
        if z == 0.0:
            return 1.0
        # z^(nu/2) K_{nu/2}(z) / (Gamma(nu/2) 2^(nu/2 - 1)), in log space with scaled Bessel K
        return exp(0.5 * nu * log(z) + log(kve(0.5 * nu, z)) - z
                   - lgamma(0.5 * nu) - (0.5 * nu - 1.0) * 0.6931471805599453)
    elif code == 4:
        # centred gamma, shape k, theta = 1/sqrt(k): (1 - i u theta)^(-k) exp(-i u k theta)
        x = u / sqrt(param)
        re_log = -0.5 * param * log(1.0 + x * x)
        im_log = param * atan(x) - u * sqrt(param)
        return exp(re_log) * (cos(im_log) + 1j * sin(im_log))
    return 0.0
