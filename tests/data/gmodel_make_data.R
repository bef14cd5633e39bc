# Regenerates the simulated data of the deconvolveR vignette examples (R >= 3.6 RNG defaults:
# Mersenne-Twister, Inversion, Rejection) and R's splines::ns reference bases.
# Source of the code: vignettes/deconvolution.Rmd of https://github.com/bnaras/deconvolveR
# (rendered as docs/articles/deconvolution.html, version 1.2-1, 2020-08-29).
# Run with R 4.2.2; the Python side converted the outputs to the .npz files beside this script.

## Normal example ("Normal Example" section), N = 10000
set.seed(129023)
N <- 10000
pi0 <- .90
data <- local({
    nullCase <- (runif(N) <= pi0)
    muAndZ <- t(sapply(nullCase, function(isNull) {
        if (isNull) {
            mu <- 0
            c(mu, rnorm(1))
        } else {
            mu <- rnorm(1, mean = -3)
            c(mu, rnorm(1, mean = mu))
        }
    }))
    data.frame(nullCase = nullCase, mu = muAndZ[, 1], z = muAndZ[, 2])
})
## check against the vignette's printed line
## "BY_q procedure discoveries 610 cases, 22 actual nulls among them."
p <- pnorm(data$z); orderP <- order(p); p <- p[orderP]
q <- 0.05
R <- max(which(p <= seq_len(N) * q / N))
disc <- data[orderP[1:R], ]
cat("BY_q procedure discoveries", R, "cases,", sum(disc$nullCase), "actual nulls among them.\n")
write.csv(data, "normex.csv", row.names = FALSE)
write.table(format(data$z, digits = 17), "z17.txt", row.names = FALSE, col.names = FALSE, quote = FALSE)

## Poisson simulation ("A simulation example"): 1000 data sets of N = 1000 counts,
## stored as histograms over deconvolveR's support 0..39 (ignoreZero = FALSE, n = 40)
set.seed(238923)
N <- 1000
Theta <- rchisq(N, df = 10)
nSIM <- 1000
dat <- sapply(seq_len(nSIM), function(x) rpois(n = N, lambda = Theta))
h <- apply(dat, 2, function(x) sapply(0:39, function(i) sum(x == i)))
cat("max X", max(dat), "; counts >= 40 (dropped by deconvolveR's support):", sum(dat >= 40), "\n")
write.csv(t(h), "poissim.csv", row.names = FALSE)

## R's natural spline bases (splines::ns, R 4.2.2) on the grids of the examples
library(splines)
for (cfg in list(list(seq(1, 32), 5), list(seq(-6, 3, by = 0.25), 5),
                 list(exp(seq(-4, 4.5, 0.025)), 5), list(seq(0.01, 0.99, 0.01), 5),
                 list(seq(-4, 6, 0.2), 7))) {
  B <- ns(cfg[[1]], cfg[[2]])
  write.table(B, sprintf("ns_%d_%d.txt", length(cfg[[1]]), cfg[[2]]), row.names = FALSE, col.names = FALSE)
}
