package dev.vecnorm.internal;

/**
 * The merges between the two passes of a channels-last group-norm sample split into row ranges
 * ({@code dev.vecnorm.ParallelNorms}): a channels-last group interleaves with the others in every pixel
 * row, so one sample splits by rows, each range reducing per channel ({@link GroupNormSupport#rowMoments},
 * {@link GroupNormSupport#rowGradientSums}), and these merge the ranges' per-channel results in double,
 * ranges in increasing order, so the bits depend on the range partition (the shape) only, not on which
 * thread ran which range.
 *
 * <p>Each range's per-channel results are one {@code float[channels]} per range and quantity, indexed
 * {@code [first + k]} for the sample's range {@code k}.
 */
public final class GroupNormRows {

  private GroupNormRows() {}

  /**
   * A sample's group statistics from its ranges' per-channel moments: with {@code n_k} rows in range
   * {@code k} and {@code mu_kc = mean + meanResidual} (the residual keeps data far from 0 exact, as
   * the single-call kernel's channel merge does), {@code mean_g = Σ n_k mu_kc / N} and
   * {@code var_g = Σ n_k (var_kc + (mu_kc - mean_g)^2) / N}, {@code N = cpg * spatial}: the exact
   * decomposition of the group's variance. Writes {@code mean}/{@code invStd} at {@code statsAt} (when
   * not null) and spreads them per channel into {@code chMean}/{@code chInvStd} for the write pass.
   *
   * @param m per range, per-channel float means; the sample's ranges are {@code first .. first + ranges - 1}
   * @param residual per range, the means' rounding errors
   * @param variance per range, the per-channel biased variances
   * @param rowsPerRange rows of every range but the last, which has the rest of {@code spatial}
   */
  public static void groupStatistics(float[][] m, float[][] residual, float[][] variance, int first, int ranges, int rowsPerRange,
                                     int spatial, int channels, int groups,
                                     float epsilon, float[] mean, float[] invStd, int statsAt, float[] chMean, float[] chInvStd) {
    int cpg = channels / groups;
    double count = (double) cpg * spatial;
    for (int g = 0, c0 = 0; g < groups; g++, c0 += cpg) {
      double sum = 0;
      for (int k = 0; k < ranges; k++) {
        float[] mk = m[first + k], rk = residual[first + k];
        double rows = Math.min(rowsPerRange, spatial - k * rowsPerRange), s = 0;
        for (int c = c0; c < c0 + cpg; c++) s += mk[c] + (double) rk[c];
        sum += rows * s;
      }
      double gm = sum / count, m2 = 0;
      for (int k = 0; k < ranges; k++) {
        float[] mk = m[first + k], rk = residual[first + k], vk = variance[first + k];
        double rows = Math.min(rowsPerRange, spatial - k * rowsPerRange), s = 0;
        for (int c = c0; c < c0 + cpg; c++) {
          double d = mk[c] + (double) rk[c] - gm;
          s += vk[c] + d * d;
        }
        m2 += rows * s;
      }
      float gmf = (float) gm, inv = ScalarBatchNormSupport.invStd((float) (m2 / count), epsilon);
      if (mean != null) mean[statsAt + g] = gmf;
      if (invStd != null) invStd[statsAt + g] = inv;
      java.util.Arrays.fill(chMean, c0, c0 + cpg, gmf);
      java.util.Arrays.fill(chInvStd, c0, c0 + cpg, inv);
    }
  }

  /**
   * Spreads a sample's group statistics at {@code statsAt} per channel (the backward's reduce pass reads
   * them per channel), with plain stores: groups are a few channels, and fill calls cost more than the stores.
   */
  public static void spread(float[] mean, float[] invStd, int statsAt, int channels, int groups, float[] chMean, float[] chInvStd) {
    int cpg = channels / groups;
    for (int g = 0, c = 0; g < groups; g++) {
      float m = mean[statsAt + g], s = invStd[statsAt + g];
      for (int end = c + cpg; c < end; c++) {
        chMean[c] = m;
        chInvStd[c] = s;
      }
    }
  }

  /** {@code out[c] = Σ parts[first + k][c]} over the sample's ranges, in double, in range order, rounded once. */
  public static void sumRanges(float[][] parts, int first, int ranges, int channels, float[] out) {
    for (int c = 0; c < channels; c++) {
      double s = 0;
      for (int k = 0; k < ranges; k++) s += parts[first + k][c];
      out[c] = (float) s;
    }
  }

  /**
   * One sample's {@code [a | b | k | mean]} per channel from its per-channel {@code sumDy},
   * {@code sumDyXhat}, adding them into {@code dGamma}/{@code dBeta} (when not null); shared by the
   * array and the native Panama bodies (so both give the same bits) and by the row ranges (with the ranges'
   * sums from {@link #sumRanges}).
   */
  public static void coefficients(float[] sumDy, float[] sumDyXhat, int channels, int groups, float[] gamma, float[] invStd, int at,
                                  double count, float[] chMean, float[] coef, float[] dGamma, float[] dBeta) {
    int cpg = channels / groups;
    // The parameter gradients first, in loops of their own: the per-channel branches inside the group
    // loop were a large part of this method, itself 5-10% of a small backward (JMH -prof stack).
    if (dGamma != null) for (int c = 0; c < channels; c++) dGamma[c] += sumDyXhat[c];
    if (dBeta != null) for (int c = 0; c < channels; c++) dBeta[c] += sumDy[c];
    for (int g = 0, c0 = 0; g < groups; g++, c0 += cpg) {
      double sumG = 0, sumGXhat = 0;
      if (gamma == null) { // gc = 1: the same sums as 1.0 * sumDy[c]
        for (int c = c0; c < c0 + cpg; c++) {
          sumG += sumDy[c];
          sumGXhat += sumDyXhat[c];
        }
      } else {
        for (int c = c0; c < c0 + cpg; c++) {
          double gc = gamma[c];
          sumG += gc * sumDy[c];
          sumGXhat += gc * sumDyXhat[c];
        }
      }
      // dx = s*g - s*Σg/n - (x - mean)*s^2*Σ(g*xhat)/n: a_c = gamma_c*s, b = -s^2 Σ(g*xhat)/n, k = -s Σg/n.
      double s = invStd[at + g];
      float b = (float) (-s * s * sumGXhat / count), k = (float) (-s * sumG / count), sf = (float) s, m = chMean[c0];
      for (int c = c0; c < c0 + cpg; c++) {
        coef[c] = gamma == null ? sf : gamma[c] * sf;
        coef[channels + c] = b;
        coef[2 * channels + c] = k;
        coef[3 * channels + c] = m;
      }
    }
  }
}
