# Reference profile-likelihood intervals for GLMM variance components, computed once with
# R's lme4 (confint(glmer, method = "profile")), for tests/test_hierarchical_glmm_intervals.py.
# Run from the repository root:  Rscript tests/data/lme4_glmm_profile.R
# Writes tests/data/lme4_glmm_profile.json. Data: lme4's cbpp (deconv/datasets/data/cbpp.csv).
# tolPwrss = 1e-12 for the same reason as in lme4_reference.R (lme4's default PIRLS
# tolerance leaves ~5e-4 of error in its Laplace deviance).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
gctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                      optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
out <- list(lme4_version = as.character(packageVersion("lme4")), R_version = R.version.string)
fits <- list(
  cbpp_binomial = list(cbind(incidence, size - incidence) ~ period + (1 | herd), binomial),
  cbpp_poisson_offset = list(incidence ~ period + offset(log(size)) + (1 | herd), poisson))
for (nm in names(fits)) {
  m <- glmer(fits[[nm]][[1]], data = cbpp, family = fits[[nm]][[2]], control = gctrl)
  for (lev in c(0.95, 0.80)) {
    ci <- confint(m, method = "profile", level = lev)
    out[[paste0(nm, "_", 100 * lev)]] <- list(
      formula = deparse(fits[[nm]][[1]]), level = lev, names = rownames(ci),
      lower = unname(ci[, 1]), upper = unname(ci[, 2]), theta = unname(getME(m, "theta")))
  }
}
# two grouping factors: herd + an observation-level effect (lme4's ?cbpp overdispersion model)
cbpp$obs <- seq_len(nrow(cbpp))
m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs), data = cbpp,
           family = binomial, control = gctrl)
ci <- confint(m, method = "profile", level = 0.95)
out$cbpp_binomial_obs_95 <- list(
  formula = "cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)", level = 0.95,
  names = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]),
  theta = unname(getME(m, "theta")), theta_names = names(getME(m, "theta")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/data/lme4_glmm_profile.json")
