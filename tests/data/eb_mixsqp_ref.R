# Reference NPMLE weights from R's mixsqp (Kim, Carbonetto, Wang & Stephens 2020),
# stored with the data in tests/data/eb_mixsqp_ref.npz (test_eb_npmle.py::test_matches_r_mixsqp).
# Data: numpy default_rng(2024); n = 2000; theta = 0 w.p. 0.6 else N(1.5, 1);
# s ~ U(0.5, 1.5); z = theta + s * N(0, 1); grid = 100 points on [min z, max z].
# Run: Rscript eb_mixsqp_ref.R z.txt s.txt g.txt out.txt   (mixsqp 0.3-48, R 4.x, Debian)
args <- commandArgs(trailingOnly = TRUE)
library(mixsqp)
z <- scan(args[1], quiet = TRUE); s <- scan(args[2], quiet = TRUE); g <- scan(args[3], quiet = TRUE)
L <- dnorm(outer(z, g, "-") / s) / s
fit <- mixsqp(L, control = list(verbose = FALSE, convtol.sqp = 1e-10, maxiter.sqp = 5000))
write(format(fit$x, digits = 17), args[4], ncolumns = 1)
