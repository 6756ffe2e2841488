package dev.vecnorm.bench;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The statistics behind the regression gate, on raw JMH samples (one per measurement iteration of
 * every fork): Mann-Whitney U, a seeded bootstrap of the ratio of medians, Holm's correction and an
 * estimate of how many more samples an undecided comparison needs. Plain double arithmetic, no
 * dependencies, so the verdicts can be checked by hand (see StatsTest).
 */
public final class Stats {
  private Stats() {}

  /** Median of the values (the mean of the two middle values for an even count); NaN for none. */
  public static double median(double[] x) {
    return quantile(x, 0.5);
  }

  /** Linear-interpolated quantile (type 7, as R and numpy default to); NaN for an empty array. */
  public static double quantile(double[] x, double q) {
    if (x.length == 0) return Double.NaN;
    double[] s = x.clone();
    Arrays.sort(s);
    return sortedQuantile(s, q);
  }

  static double sortedQuantile(double[] s, double q) {
    double h = (s.length - 1) * q;
    int lo = (int) Math.floor(h);
    int hi = Math.min(lo + 1, s.length - 1);
    return s[lo] + (h - lo) * (s[hi] - s[lo]);
  }

  /**
   * A two-sided Mann-Whitney U test of x against y.
   *
   * @param u     U of x: the number of pairs (x_i, y_j) with x_i > y_j, ties counting one half
   * @param p     two-sided p-value
   * @param exact true when p comes from the exact null distribution, false for the normal approximation
   */
  public record MannWhitney(double u, double p, boolean exact) {}

  /** Below this many samples per side (and without ties) the p-value is exact; above, normal with tie correction. */
  static final int EXACT_MAX = 25;

  public static MannWhitney mannWhitney(double[] x, double[] y) {
    return mannWhitney(x, y, 1);
  }

  /**
   * Mann-Whitney with the variance of U multiplied by a design effect {@code deff} >= 1 (see {@link #designEffect}):
   * for samples that come in correlated clusters (forks) the null variance is larger than for independent ones.
   * With deff > 1 the p-value is always the normal approximation.
   */
  public static MannWhitney mannWhitney(double[] x, double[] y, double deff) {
    int n1 = x.length, n2 = y.length;
    if (n1 == 0 || n2 == 0) throw new IllegalArgumentException("mannWhitney needs at least one sample on each side, got " + n1 + " and " + n2);
    int n = n1 + n2;
    double[] all = new double[n];
    boolean[] fromX = new boolean[n];
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      all[i] = i < n1 ? x[i] : y[i - n1];
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Double.compare(all[a], all[b]));
    // Mid-ranks for ties; tieTerm is sum(t^3 - t) over tie groups, for the variance correction.
    double rankSumX = 0, tieTerm = 0;
    for (int i = 0; i < n; ) {
      int j = i;
      while (j + 1 < n && all[order[j + 1]] == all[order[i]]) j++;
      double rank = (i + j + 2) / 2.0; // ranks are 1-based: positions i..j get the mean of i+1..j+1
      for (int k = i; k <= j; k++) if (order[k] < n1) rankSumX += rank;
      double t = j - i + 1;
      tieTerm += t * t * t - t;
      i = j + 1;
    }
    double u = rankSumX - n1 * (n1 + 1) / 2.0;
    if (tieTerm == 0 && n1 <= EXACT_MAX && n2 <= EXACT_MAX && deff <= 1) {
      double[] cdf = exactCdf(n1, n2);
      int ui = (int) Math.round(u);
      double lower = cdf[ui], upper = 1 - (ui > 0 ? cdf[ui - 1] : 0);
      return new MannWhitney(u, Math.min(1, 2 * Math.min(lower, upper)), true);
    }
    double mean = n1 * (double) n2 / 2;
    double var = Math.max(1, deff) * n1 * (double) n2 / 12 * ((n + 1) - tieTerm / (n * (double) (n - 1)));
    if (var <= 0) return new MannWhitney(u, 1, false); // every value tied: no evidence either way
    double z = Math.max(0, Math.abs(u - mean) - 0.5) / Math.sqrt(var); // with continuity correction
    return new MannWhitney(u, Math.min(1, 2 * normalCdf(-z)), false);
  }

  /**
   * P(U <= u) for u = 0..n1*n2 under the null hypothesis without ties, from the recurrence
   * c(n1, n2, u) = c(n1 - 1, n2, u - n2) + c(n1, n2 - 1, u) over arrangements of the two samples.
   */
  static double[] exactCdf(int n1, int n2) {
    // counts[b][u] for the current a = number of x values, b = 0..n2
    double[][] counts = new double[n2 + 1][];
    for (int b = 0; b <= n2; b++) {
      counts[b] = new double[1];
      counts[b][0] = 1; // a = 0: one arrangement, U = 0
    }
    for (int a = 1; a <= n1; a++) {
      double[][] next = new double[n2 + 1][];
      next[0] = new double[] {1};
      for (int b = 1; b <= n2; b++) {
        double[] c = new double[a * b + 1];
        double[] left = counts[b]; // (a - 1, b): the largest value is an x above all b y values: U grows by b
        for (int u = 0; u < left.length; u++) c[u + b] += left[u];
        double[] down = next[b - 1]; // (a, b - 1): the largest value is a y: U unchanged
        for (int u = 0; u < down.length; u++) c[u] += down[u];
        next[b] = c;
      }
      counts = next;
    }
    double[] c = counts[n2];
    double total = 0;
    for (double v : c) total += v;
    double[] cdf = new double[c.length];
    double run = 0;
    for (int u = 0; u < c.length; u++) {
      run += c[u];
      cdf[u] = run / total;
    }
    return cdf;
  }

  /**
   * The design effect 1 + (m - 1) ICC of samples in equal-size clusters (JMH forks of m iterations), pooled over
   * both sides: ICC is the intraclass correlation of log(sample) from a one-way analysis of variance with forks
   * as groups, each side around its own mean (so a real difference between the sides does not count).
   * 1 when a side has one fork or uneven forks; at most m, when forks differ and iterations within them do not.
   */
  public static double designEffect(double[] a, int forksA, double[] b, int forksB) {
    double ssBetween = 0, ssWithin = 0;
    int groups = 0, n = 0, sides = 0, m = 0;
    for (Object[] side : new Object[][] {{a, forksA}, {b, forksB}}) {
      double[] x = (double[]) side[0];
      int forks = (Integer) side[1];
      if (forks < 2 || x.length % forks != 0 || x.length / forks < 2) return 1;
      int per = x.length / forks;
      if (m != 0 && per != m) return 1;
      m = per;
      double grand = 0;
      for (double v : x) grand += Math.log(v);
      grand /= x.length;
      for (int f = 0; f < forks; f++) {
        double mean = 0;
        for (int i = 0; i < per; i++) mean += Math.log(x[f * per + i]);
        mean /= per;
        ssBetween += per * (mean - grand) * (mean - grand);
        for (int i = 0; i < per; i++) ssWithin += (Math.log(x[f * per + i]) - mean) * (Math.log(x[f * per + i]) - mean);
      }
      groups += forks;
      n += x.length;
      sides++;
    }
    double msb = ssBetween / (groups - sides), msw = ssWithin / (n - groups);
    if (!(msb > msw)) return 1; // forks agree as well as iterations do: no clustering to correct for
    double icc = (msb - msw) / (msb + (m - 1) * msw);
    return 1 + (m - 1) * icc;
  }

  /** Standard normal CDF, through erfc (absolute error below 1.2e-7). */
  public static double normalCdf(double z) {
    return 0.5 * erfc(-z / Math.sqrt(2));
  }

  /** Complementary error function, Chebyshev fit from Numerical Recipes (fractional error below 1.2e-7). */
  static double erfc(double x) {
    double z = Math.abs(x);
    double t = 1 / (1 + 0.5 * z);
    double r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0 ? r : 2 - r;
  }

  /** Standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9). */
  public static double normalQuantile(double p) {
    if (!(p > 0 && p < 1)) throw new IllegalArgumentException("normalQuantile needs 0 < p < 1, got " + p);
    double[] a = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    double[] b = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01};
    double[] c = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    double[] d = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00};
    double low = 0.02425;
    if (p < low) {
      double q = Math.sqrt(-2 * Math.log(p));
      return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - low) return -normalQuantile(1 - p);
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }

  /** Student t quantile: bisection on {@link #tCdf} (absolute error below 1e-9 in the probability). */
  public static double tQuantile(double p, double df) {
    if (!(p > 0 && p < 1) || !(df > 0)) throw new IllegalArgumentException("tQuantile needs 0 < p < 1 and df > 0, got " + p + ", " + df);
    if (p < 0.5) return -tQuantile(1 - p, df);
    double lo = 0, hi = 1;
    while (tCdf(hi, df) < p) hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
      double mid = (lo + hi) / 2;
      if (tCdf(mid, df) < p) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  }

  /**
   * Student t CDF, from P(|T| > t) = I_x(df/2, 1/2) with x = df / (df + t^2), the regularized incomplete beta
   * function by its continued fraction (Numerical Recipes' betacf, Lentz's method).
   */
  public static double tCdf(double t, double df) {
    double x = df / (df + t * t);
    double tail = 0.5 * incompleteBeta(x, df / 2, 0.5);
    return t >= 0 ? 1 - tail : tail;
  }

  static double incompleteBeta(double x, double a, double b) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
    if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a); // the fraction converges fast on this side
    double tiny = 1e-300, c = 1, d = 1 - (a + b) * x / (a + 1);
    if (Math.abs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 300; m++) {
      int m2 = 2 * m;
      double aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
      d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
      c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
      d = 1 / d;
      h *= d * c;
      aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
      d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
      c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
      d = 1 / d;
      double del = d * c;
      h *= del;
      if (Math.abs(del - 1) < 1e-15) break;
    }
    return front * h / a;
  }

  /** log Gamma(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error around 1e-15). */
  static double logGamma(double x) {
    double[] c = {0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
        12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7};
    if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
    x -= 1;
    double sum = c[0], t = x + 7.5;
    for (int i = 1; i < 9; i++) sum += c[i] / (x + i);
    return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum);
  }

  /**
   * Fork-level interval of the ratio median(num) / median(den): each fork counts once, by the log of its median;
   * Welch's t interval on the difference of the sides' means, mapped back by exp. {@code tail} is the one-sided
   * probability left out at each end. Null unless both sides have at least 2 forks of equal size.
   */
  public static Interval forkInterval(double[] num, int numForks, double[] den, int denForks, double tail) {
    double[] a = forkLogMedians(num, numForks), b = forkLogMedians(den, denForks);
    if (a == null || b == null) return null;
    double ma = mean(a), mb = mean(b), va = variance(a, ma) / a.length, vb = variance(b, mb) / b.length;
    double se = Math.sqrt(va + vb);
    if (se == 0) return new Interval(Math.exp(ma - mb), Math.exp(ma - mb));
    double df = (va + vb) * (va + vb) / (va * va / (a.length - 1) + vb * vb / (b.length - 1));
    double half = tQuantile(1 - tail, df) * se;
    return new Interval(Math.exp(ma - mb - half), Math.exp(ma - mb + half));
  }

  private static double[] forkLogMedians(double[] x, int forks) {
    if (forks < 2 || x.length % forks != 0) return null;
    int per = x.length / forks;
    double[] out = new double[forks];
    for (int f = 0; f < forks; f++) out[f] = Math.log(median(Arrays.copyOfRange(x, f * per, f * per + per)));
    return out;
  }

  private static double mean(double[] x) {
    double s = 0;
    for (double v : x) s += v;
    return s / x.length;
  }

  private static double variance(double[] x, double mean) {
    double s = 0;
    for (double v : x) s += (v - mean) * (v - mean);
    return s / (x.length - 1);
  }

  /** Holm's step-down adjustment: adjusted p-values, same order as given, family-wise error rate controlled. */
  public static double[] holm(double[] p) {
    int k = p.length;
    Integer[] order = new Integer[k];
    for (int i = 0; i < k; i++) order[i] = i;
    Arrays.sort(order, (a, b) -> Double.compare(p[a], p[b]));
    double[] adj = new double[k];
    double running = 0;
    for (int r = 0; r < k; r++) {
      running = Math.max(running, Math.min(1, (k - r) * p[order[r]]));
      adj[order[r]] = running;
    }
    return adj;
  }

  /** Percentile bootstrap interval of median(num) / median(den). */
  public record Interval(double lo, double hi) {}

  /**
   * Percentile bootstrap confidence interval of median(num) / median(den). The seed is fixed by the caller,
   * so the same data always gives the same interval.
   *
   * <p>Samples come in forks (JVMs) of equal size, and iterations of one fork share its JIT decisions, memory
   * layout and the machine's load at that moment: they are not independent. So each side is resampled in two
   * stages, forks with replacement and then iterations within each drawn fork (a hierarchical bootstrap); the
   * interval then widens when forks disagree. With one fork, or sizes that do not split evenly, it is the
   * plain bootstrap of the iterations.
   */
  public static Interval bootstrapRatioOfMedians(double[] num, int numForks, double[] den, int denForks, double level,
                                                 int resamples, long seed) {
    double[] ratios = bootstrapRatios(num, numForks, den, denForks, resamples, seed);
    double tail = (1 - level) / 2;
    return new Interval(sortedQuantile(ratios, tail), sortedQuantile(ratios, 1 - tail));
  }

  /** The sorted bootstrap distribution behind {@link #bootstrapRatioOfMedians(double[], int, double[], int, double, int, long)}. */
  public static double[] bootstrapRatios(double[] num, int numForks, double[] den, int denForks, int resamples, long seed) {
    if (num.length == 0 || den.length == 0) throw new IllegalArgumentException("bootstrap needs samples on both sides");
    SplittableRandom rnd = new SplittableRandom(seed);
    double[] ratios = new double[resamples];
    double[] a = new double[num.length], b = new double[den.length];
    for (int r = 0; r < resamples; r++) {
      resample(num, numForks, rnd, a);
      resample(den, denForks, rnd, b);
      Arrays.sort(a);
      Arrays.sort(b);
      ratios[r] = sortedQuantile(a, 0.5) / sortedQuantile(b, 0.5);
    }
    Arrays.sort(ratios);
    return ratios;
  }

  /** The plain bootstrap of independent samples. */
  public static Interval bootstrapRatioOfMedians(double[] num, double[] den, double level, int resamples, long seed) {
    return bootstrapRatioOfMedians(num, 1, den, 1, level, resamples, seed);
  }

  private static void resample(double[] x, int forks, SplittableRandom rnd, double[] out) {
    if (forks < 2 || x.length % forks != 0) {
      for (int i = 0; i < out.length; i++) out[i] = x[rnd.nextInt(x.length)];
      return;
    }
    int per = x.length / forks;
    for (int f = 0; f < forks; f++) {
      int from = rnd.nextInt(forks) * per;
      for (int i = 0; i < per; i++) out[f * per + i] = x[from + rnd.nextInt(per)];
    }
  }

  /** Samples per side beyond which we stop estimating: the change sits on the threshold. */
  static final int MORE_CAP = 10_000;

  /**
   * Samples per side a rank test needs to reach significance at {@code alphaPerTest} (two-sided) with
   * 80% power, for the observed effect {@code pSuperiority} = U / (n1 n2) (Noether's formula, equal sizes),
   * and never fewer than the exact test's floor: with n per side, the smallest two-sided p is 2 / C(2n, n).
   */
  public static int samplesForSignificance(double pSuperiority, double alphaPerTest) {
    int floor = 1;
    while (2 / binomial(2 * floor, floor) >= alphaPerTest) floor++;
    double d = Math.abs(pSuperiority - 0.5);
    if (d < 1e-9) return MORE_CAP;
    double z = normalQuantile(1 - alphaPerTest / 2) + normalQuantile(0.8);
    double total = z * z / (3 * d * d);
    return (int) Math.min(MORE_CAP, Math.max(floor, Math.ceil(total / 2)));
  }

  /**
   * Samples per side to shrink an interval [lo, hi] around {@code ratio} into [bandLo, bandHi],
   * assuming its width falls as 1 / sqrt(n).
   */
  public static int samplesForInterval(int n, double ratio, double lo, double hi, double bandLo, double bandHi) {
    double shrink = 1;
    if (hi > bandHi) shrink = Math.min(shrink, (bandHi - ratio) / (hi - ratio));
    if (lo < bandLo) shrink = Math.min(shrink, (ratio - bandLo) / (ratio - lo));
    if (!(shrink > 0)) return MORE_CAP;
    return (int) Math.min(MORE_CAP, Math.ceil(n / (shrink * shrink)));
  }

  static double binomial(int n, int k) {
    double r = 1;
    for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
    return r;
  }
}
