# Reference numbers for tests/test_hierarchical*.py, computed once with R's lme4.
# Run from the repository root:  Rscript tests/data/lme4_reference.R
# Writes tests/data/lme4_reference.json and the data sets used
# (deconv/datasets/data/{sleepstudy,Pastes,Penicillin,cbpp}.csv, exported from lme4;
# source: Bates, Maechler, Bolker & Walker (2015), lme4 package data).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
ddir <- "deconv/datasets/data"
write.csv(sleepstudy, file.path(ddir, "sleepstudy.csv"), row.names = FALSE)
write.csv(Pastes, file.path(ddir, "Pastes.csv"), row.names = FALSE)
write.csv(Penicillin, file.path(ddir, "Penicillin.csv"), row.names = FALSE)
write.csv(cbpp, file.path(ddir, "cbpp.csv"), row.names = FALSE)

ctrl <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 2e-4, rhoend = 2e-11, maxfun = 1e5))
summ_lmm <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  re <- as.data.frame(ranef(m, condVar = TRUE))
  re <- list(grpvar = as.character(re$grpvar), term = as.character(re$term),
             grp = as.character(re$grp), condval = re$condval, condsd = re$condsd)
  list(reml = isREML(m), fixef = unname(fixef(m)), fixef_names = names(fixef(m)),
       se = unname(sqrt(diag(as.matrix(vcov(m))))), theta = unname(getME(m, "theta")),
       sigma = sigma(m), varcomp = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2,
                                        vcov = vc$vcov, sdcor = vc$sdcor),
       deviance_crit = if (isREML(m)) unname(getME(m, "devcomp")$cmp["REML"]) else unname(deviance(m)),
       loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m), nobs = nobs(m), ranef = re)
}
out <- list(lme4_version = as.character(packageVersion("lme4")), R_version = R.version.string)
fits <- list(
  sleep_intercept = Reaction ~ Days + (1 | Subject),
  sleep_slope = Reaction ~ Days + (Days | Subject),
  sleep_uncorrelated = Reaction ~ Days + (Days || Subject),
  pastes_nested = strength ~ 1 + (1 | batch/cask),
  penicillin_crossed = diameter ~ 1 + (1 | plate) + (1 | sample))
dat <- list(sleep_intercept = sleepstudy, sleep_slope = sleepstudy,
            sleep_uncorrelated = sleepstudy, pastes_nested = Pastes,
            penicillin_crossed = Penicillin)
for (nm in names(fits)) for (reml in c(TRUE, FALSE)) {
  m <- lmer(fits[[nm]], data = dat[[nm]], REML = reml, control = ctrl)
  out[[paste0(nm, if (reml) "_reml" else "_ml")]] <- c(list(formula = deparse(fits[[nm]])), summ_lmm(m))
}
# crossed design with a correlated random slope on the secondary factor (exercises the
# Schur-complement path with K = 2): tests/data/lme4_crossed_slope.csv, simulated once in
# Python (seed 42; 30 subjects x 8 items; see tests/test_hierarchical_lmm.py)
cs <- read.csv("tests/data/lme4_crossed_slope.csv")
for (reml in c(TRUE, FALSE)) {
  m <- lmer(y ~ x + (1 | subject) + (x | item), data = cs, REML = reml, control = ctrl)
  out[[paste0("crossed_slope", if (reml) "_reml" else "_ml")]] <-
    c(list(formula = "y ~ x + (1 | subject) + (x | item)"), summ_lmm(m))
}
# profile-likelihood intervals (sd/cor scale, then fixed effects) for two models
for (nm in c("sleep_intercept", "sleep_slope")) {
  m <- lmer(fits[[nm]], data = sleepstudy, REML = TRUE, control = ctrl)
  ci <- confint(m, method = "profile", level = 0.95)
  out[[paste0(nm, "_reml_profile_ci")]] <- list(names = rownames(ci), lower = unname(ci[, 1]),
                                               upper = unname(ci[, 2]))
}
# likelihood-ratio test (ML refits), intercept vs correlated slope
m0 <- lmer(fits$sleep_intercept, data = sleepstudy, REML = FALSE, control = ctrl)
m1 <- lmer(fits$sleep_slope, data = sleepstudy, REML = FALSE, control = ctrl)
a <- anova(m0, m1)
out$lrt_intercept_vs_slope <- list(chisq = a$Chisq[2], df = a$Df[2], p = a[["Pr(>Chisq)"]][2])
# timing of one REML random-slope fit (default control), for the benchmark
tm <- system.time(for (i in 1:20) lmer(fits$sleep_slope, data = sleepstudy))[["elapsed"]] / 20
out$timing_sleep_slope_reml_seconds <- tm

# GLMM, Laplace (nAGQ = 1): cbpp binomial and Poisson with offset.
# tolPwrss = 1e-12: with lme4's default PIRLS tolerance (1e-7) its Laplace deviance carries
# an error of ~5e-4 (log|L|^2 is evaluated before PIRLS has converged); tightening it makes
# lme4's devfun agree with the converged Laplace approximation to 1e-8.
gctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)
summ_glmm <- function(m) list(fixef = unname(fixef(m)), fixef_names = names(fixef(m)),
  se = unname(sqrt(diag(as.matrix(vcov(m))))), theta = unname(getME(m, "theta")),
  deviance = unname(deviance(m)), loglik = as.numeric(logLik(m)), aic = AIC(m),
  ranef = unname(ranef(m)$herd[, 1]))
g1 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp,
            family = binomial, control = gctrl)
g1 <- update(g1, start = list(theta = getME(g1, "theta"), fixef = fixef(g1)),
             control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                                         optCtrl = list(rhoend = 1e-10, maxfun = 1e5)))
out$cbpp_binomial <- summ_glmm(g1)
g2 <- glmer(incidence ~ period + offset(log(size)) + (1 | herd), data = cbpp,
            family = poisson, control = gctrl)
g2 <- update(g2, start = list(theta = getME(g2, "theta"), fixef = fixef(g2)),
             control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                                         optCtrl = list(rhoend = 1e-10, maxfun = 1e5)))
out$cbpp_poisson_offset <- summ_glmm(g2)
# two grouping factors: herd + an observation-level effect for overdispersion (lme4's ?cbpp)
cbpp$obs <- seq_len(nrow(cbpp))
g3 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs), data = cbpp,
            family = binomial, control = gctrl)
g3 <- update(g3, start = list(theta = getME(g3, "theta"), fixef = fixef(g3)),
             control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                                    optCtrl = list(rhoend = 1e-10, maxfun = 1e5)))
out$cbpp_binomial_obs <- c(summ_glmm(g3)[c("fixef", "se", "theta", "loglik", "aic")],
                           list(theta_names = names(getME(g3, "theta"))))
# Satterthwaite degrees of freedom from lmerTest (Kuznetsova et al. 2017), REML fits,
# including an unbalanced design: sleepstudy without the rows whose 1-based index %% 7 == 3
if (requireNamespace("lmerTest", quietly = TRUE)) {
  sleep_unbal <- sleepstudy[seq_len(nrow(sleepstudy)) %% 7 != 3, ]
  sat <- list(
    sleep_intercept = list(Reaction ~ Days + (1 | Subject), sleepstudy),
    sleep_slope = list(Reaction ~ Days + (Days | Subject), sleepstudy),
    sleep_slope_unbalanced = list(Reaction ~ Days + (Days | Subject), sleep_unbal),
    sleep_uncorrelated_unbalanced = list(Reaction ~ Days + (Days || Subject), sleep_unbal),
    penicillin_crossed = list(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin))
  out$satterthwaite <- list(lmerTest_version = as.character(packageVersion("lmerTest")))
  for (nm in names(sat)) {
    m <- lmerTest::lmer(sat[[nm]][[1]], data = sat[[nm]][[2]], control = ctrl)
    cf <- summary(m)$coefficients
    out$satterthwaite[[nm]] <- list(formula = deparse(sat[[nm]][[1]]), names = rownames(cf),
                                    df = unname(cf[, "df"]), se = unname(cf[, "Std. Error"]),
                                    fixef = unname(cf[, "Estimate"]))
  }
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/data/lme4_reference.json")
