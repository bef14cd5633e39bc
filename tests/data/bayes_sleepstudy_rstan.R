# Reference posterior for tests/test_hierarchical_bayes_mixed.py: the correlated random-slope
# model of sleepstudy, Reaction ~ Days + (Days | Subject), under exactly the priors of
# deconv's compiled mixed model (deconv.sampling.mixed_model.MixedModel) on standardised data:
#   y_s = (Reaction - mean) / sd, x_s = Days / sd(Days)  (sd with n - 1, as numpy ddof=1)
#   beta ~ N(0, 10^2); sd ~ half-normal(0, 5); Omega ~ LKJ(2); sigma ~ half-normal(0, 5).
# Run once (Rscript tests/data/bayes_sleepstudy_rstan.R) with rstan; writes bayes_sleepstudy_rstan.json.
# On Debian, r-cran-bh has no include/ directory (it uses the system Boost) and rstan then
# stops with "Boost not found": copy /usr/lib/R/site-library/BH to a private library, add
# include/boost -> /usr/include/boost, and run with R_LIBS=<that library>.
suppressMessages({library(rstan); library(lme4)})
d <- lme4::sleepstudy
ybar <- mean(d$Reaction); ysd <- sd(d$Reaction); xsd <- sd(d$Days)
code <- "
data { int N; int J; vector[N] y; vector[N] x; int g[N]; }
parameters { vector[2] beta; vector<lower=0>[2] tau; cholesky_factor_corr[2] L; matrix[2, J] z;
             real<lower=0> sigma; }
transformed parameters { matrix[2, J] b = diag_pre_multiply(tau, L) * z; }
model {
  vector[N] mu;
  beta ~ normal(0, 10); tau ~ normal(0, 5); L ~ lkj_corr_cholesky(2);
  to_vector(z) ~ std_normal(); sigma ~ normal(0, 5);
  for (i in 1:N) mu[i] = beta[1] + b[1, g[i]] + (beta[2] + b[2, g[i]]) * x[i];
  y ~ normal(mu, sigma);
}
generated quantities { real cor = multiply_lower_tri_self_transpose(L)[1, 2]; }
"
g <- as.integer(factor(d$Subject))
dat <- list(N = nrow(d), J = max(g), y = (d$Reaction - ybar) / ysd, x = d$Days / xsd, g = g)
fit <- stan(model_code = code, data = dat, chains = 4, iter = 6000, warmup = 1000, seed = 20261123,
            refresh = 0, control = list(adapt_delta = 0.95))
e <- rstan::extract(fit)
b0 <- ybar + ysd * e$beta[, 1]; b1 <- ysd / xsd * e$beta[, 2]
s0 <- ysd * e$tau[, 1]; s1 <- ysd / xsd * e$tau[, 2]; sg <- ysd * e$sigma
q <- list("(Intercept)" = b0, "Days" = b1, "Subject: sd((Intercept))" = s0,
          "Subject: sd(Days)" = s1, "Subject: cor((Intercept), Days)" = e$cor, "Residual: sd" = sg)
out <- list(source = paste("rstan", packageVersion("rstan"), "4 chains x 5000 draws, seed 20261123,",
                           "script tests/data/bayes_sleepstudy_rstan.R"),
            names = names(q), mean = sapply(q, mean), sd = sapply(q, sd),
            rhat_max = max(summary(fit)$summary[, "Rhat"], na.rm = TRUE))
writeLines(jsonlite::toJSON(out, digits = 10, auto_unbox = TRUE), "tests/data/bayes_sleepstudy_rstan.json")
print(out)
