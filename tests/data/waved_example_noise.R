# Noise of R waved's own example, waved.example(pr = TRUE): n = 2048, set.seed(11),
# then noise = rnorm(n) and noiseT = rt(n, 2) drawn in that order (Raimondo & Stewart 2007,
# J. Statist. Software 21(2); waved 1.x R/functionINIT.R). Also the gamma kernel of the
# example, dgamma(t, shape = 0.5, scale = 0.25) on t = (1:n)/n normalised to sum 1.
# Run once with:  Rscript tests/data/waved_example_noise.R
# Output: tests/data/waved_example_noise.csv (columns noise, noiseT, gamma).
n <- 2048
set.seed(11)
noise <- rnorm(n)
noiseT <- rt(n, 2)
t <- (1:n) / n
g <- dgamma(t, shape = 0.5, scale = 0.25)
g <- g / sum(g)
out <- data.frame(noise = sprintf("%.17g", noise), noiseT = sprintf("%.17g", noiseT),
                  gamma = sprintf("%.17g", g))
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(sub("--file=", "", args[grep("--file=", args)]))
write.csv(out, file.path(here, "waved_example_noise.csv"), row.names = FALSE, quote = FALSE)
cat(R.version.string, "\n")
