package dev.vecnorm.internal;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Group norm on the Vector API, built from the batch-norm kernels applied to one sample at a time, so
 * both layouts get their tuned memory order and numerics without a second copy of those loops:
 * <ul>
 *   <li>Channels-first: a group is one contiguous block of {@code cpg * spatial} floats, so the sample
 *       is the batch-norm shape {@code [1, groups, cpg*spatial]} and its per-"channel" moments are the
 *       group moments (contiguous reduction by cache blocks, each two-pass, merged with Chan's formula).</li>
 *   <li>Channels-last: a group is a run of {@code cpg} floats in every row, too short to vectorize
 *       along when {@code cpg} is small. The sample is {@code [spatial, channels]}: per-channel moments
 *       vectorize along the rows (super rows for small or ragged C, shifted sums with a cancellation
 *       guard), then merge per group in double: {@code mean = avg(mean_c)},
 *       {@code var = avg(var_c) + avg((mean_c - mean)^2)} (equal counts per channel).</li>
 * </ul>
 * The group statistics are then spread per channel ({@code mean_c = mean_g}, {@code invStd_c = invStd_g})
 * and the batch-norm normalize / backward-reduce kernels run unchanged on the sample. Only the input
 * gradient differs from batch norm: its group terms {@code b, k} do not scale with gamma, so it folds
 * {@code dx = a_c*dy + b_g*(x - mean_g) + k_g} itself and runs the channels-last apply on those
 * coefficients, or, channels-first, a loop along each channel's contiguous positions.
 *
 * <p>Scratch is pooled ({@link Scratch}); nothing allocates in steady state. Species only in static finals.
 */
final class PanamaGroupNormSupport implements GroupNormSupport {

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();

  /** The batch-norm kernels, called through the final class so C2 binds them statically. */
  private final PanamaBatchNormSupport bn;

  PanamaGroupNormSupport() {
    bn = new PanamaBatchNormSupport(); // throws on the same platforms (no FMA, narrow vectors): the provider falls back
  }

  @Override
  public String name() {
    return "panama";
  }

  @Override
  public void forward(float[] x, int xOffset, float[] y, int yOffset, int batch, int channels, int spatial, int groups,
                      boolean channelsLast, float[] gamma, float[] beta, float epsilon, float[] mean, float[] invStd, int statsOffset) {
    int cpg = channels / groups, sampleFloats = channels * spatial;
    float[] chMean = Scratch.borrow(channels), chInvStd = Scratch.borrow(channels);
    float[] m = Scratch.borrow(channels), v = Scratch.borrow(channels);
    try {
      for (int n = 0; n < batch; n++) {
        int xs = xOffset + n * sampleFloats, ys = yOffset + n * sampleFloats, at = statsOffset + n * groups;
        float[] src = x;
        int so = xs;
        boolean shifted = false;
        if (channelsLast) {
          bn.moments(x, xs, spatial, channels, 1, m, v);
          if (mergeGroups(m, v, groups, cpg)) {
            // Cold path: the channel means' float rounding could swamp the spread between them (|mean| >> std).
            // Shift the sample by its group means into y (x - mean is exact near the mean) and take the
            // moments again: the shifted channel means are small, so their rounding is negligible.
            for (int g = 0; g < groups; g++) {
              java.util.Arrays.fill(chMean, g * cpg, (g + 1) * cpg, m[g]);
              java.util.Arrays.fill(chInvStd, g * cpg, (g + 1) * cpg, 1f);
            }
            bn.normalize(x, xs, y, ys, spatial, channels, 1, chMean, chInvStd, false, epsilon, null, null);
            bn.moments(y, ys, spatial, channels, 1, m, v);
            mergeGroups(m, v, groups, cpg);
            src = y;
            so = ys;
            shifted = true;
          }
        } else {
          bn.moments(x, xs, 1, groups, cpg * spatial, m, v);
        }
        for (int g = 0; g < groups; g++) {
          float s = ScalarBatchNormSupport.invStd(v[g], epsilon);
          if (mean != null) mean[at + g] = shifted ? chMean[g * cpg] + m[g] : m[g];
          if (invStd != null) invStd[at + g] = s;
          java.util.Arrays.fill(chMean, g * cpg, (g + 1) * cpg, m[g]); // the group's center in src
          java.util.Arrays.fill(chInvStd, g * cpg, (g + 1) * cpg, s);
        }
        // y = (x - mean_c) * gamma_c * invStd_c + beta_c: batch norm's kernel with group statistics per channel.
        if (channelsLast) bn.normalize(src, so, y, ys, spatial, channels, 1, chMean, chInvStd, false, epsilon, gamma, beta);
        else bn.normalize(x, xs, y, ys, 1, channels, spatial, chMean, chInvStd, false, epsilon, gamma, beta);
      }
    } finally {
      Scratch.release(v);
      Scratch.release(m);
      Scratch.release(chInvStd);
      Scratch.release(chMean);
    }
  }

  /**
   * Merges every group's channel moments ({@link #mergeChannels}); true when some group's variance may
   * be swamped by the rounding of its channel means.
   */
  private static boolean mergeGroups(float[] m, float[] v, int groups, int cpg) {
    boolean roundingMatters = false;
    for (int g = 0; g < groups; g++) roundingMatters |= mergeChannels(m, v, g * cpg, cpg, g);
    return roundingMatters;
  }

  /**
   * Group g's mean and biased variance from its {@code cpg} channels' (equal-count) moments at
   * {@code from}, in double, written to {@code m[g]}, {@code v[g]} ({@code g <= from}, so nothing unread
   * is overwritten): {@code mean = avg(mean_c)}, {@code var = avg(var_c) + avg((mean_c - mean)^2)}. A
   * non-finite channel makes the group non-finite, as batch norm's rule does.
   *
   * <p>Returns true when the spread term may be wrong by more than 2^-20 of the variance: each mean_c
   * is a float, off by up to half an ulp {@code u/2}, which moves the spread term by up to
   * {@code u*(u/4 + rms spread)} (data like {@code 1e4 + N(0, 0.01)}: u = 1e-3 against var = 1e-4).
   */
  private static boolean mergeChannels(float[] m, float[] v, int from, int cpg, int g) {
    double sum = 0, u = 0;
    for (int c = from; c < from + cpg; c++) {
      sum += m[c];
      u = Math.max(u, Math.ulp(m[c]));
    }
    double gm = sum / cpg, spread = 0, within = 0;
    for (int c = from; c < from + cpg; c++) {
      double d = m[c] - gm;
      spread += d * d;
      within += v[c];
    }
    double var = (within + spread) / cpg;
    m[g] = (float) gm;
    v[g] = (float) var;
    return cpg > 1 && u * (u / 4 + Math.sqrt(spread / cpg)) > 0x1p-20 * var;
  }

  @Override
  public void backward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int batch, int channels, int spatial,
                       int groups, boolean channelsLast, float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma,
                       float[] dBeta) {
    int cpg = channels / groups, sampleFloats = channels * spatial;
    int width = channelsLast ? PanamaBatchNormSupport.superWidth(channels) : -1;
    float[] chMean = Scratch.borrow(channels), chInvStd = Scratch.borrow(channels);
    float[] sumDy = Scratch.borrow(channels), sumDyXhat = Scratch.borrow(channels);
    float[] coef = Scratch.borrow(4 * channels + 4 * Math.max(width, 0)); // [a | b | k | mean] per channel, then tiled
    try {
      double count = (double) cpg * spatial;
      for (int n = 0; n < batch; n++) {
        int xs = xOffset + n * sampleFloats, gs = dyOffset + n * sampleFloats, ds = dxOffset + n * sampleFloats, at = statsOffset + n * groups;
        for (int g = 0; g < groups; g++) {
          java.util.Arrays.fill(chMean, g * cpg, (g + 1) * cpg, mean[at + g]);
          java.util.Arrays.fill(chInvStd, g * cpg, (g + 1) * cpg, invStd[at + g]);
        }
        // Per channel: Σdy and Σdy*xhat over the sample's positions, in the layout's memory order.
        if (channelsLast) bn.backwardReduce(x, xs, dy, gs, spatial, channels, 1, chMean, chInvStd, sumDy, sumDyXhat);
        else bn.backwardReduce(x, xs, dy, gs, 1, channels, spatial, chMean, chInvStd, sumDy, sumDyXhat);
        for (int g = 0; g < groups; g++) {
          int c0 = g * cpg;
          double sumG = 0, sumGXhat = 0;
          for (int c = c0; c < c0 + cpg; c++) {
            if (dGamma != null) dGamma[c] += sumDyXhat[c];
            if (dBeta != null) dBeta[c] += sumDy[c];
            double gc = gamma == null ? 1 : gamma[c];
            sumG += gc * sumDy[c];
            sumGXhat += gc * sumDyXhat[c];
          }
          // dx = s*g - s*Σg/n - (x - mean)*s^2*Σ(g*xhat)/n: a_c = gamma_c*s, b = -s^2 Σ(g*xhat)/n, k = -s Σg/n.
          double s = invStd[at + g];
          float b = (float) (-s * s * sumGXhat / count), k = (float) (-s * sumG / count);
          for (int c = c0; c < c0 + cpg; c++) {
            coef[c] = gamma == null ? (float) s : gamma[c] * (float) s;
            coef[channels + c] = b;
            coef[2 * channels + c] = k;
            coef[3 * channels + c] = chMean[c];
          }
        }
        if (!channelsLast) {
          applyChannelsFirst(x, xs, dy, gs, dx, ds, channels, spatial, coef);
        } else if (width < 0) {
          PanamaBatchNormSupport.applyRows(x, xs, dy, gs, dx, ds, spatial, channels, chMean, coef);
        } else {
          PanamaBatchNormSupport.tilePattern(coef, 0, channels, 4, 4 * channels, width);
          PanamaBatchNormSupport.applySuperRows(x, xs, dy, gs, dx, ds, sampleFloats, width, coef, 4 * channels);
        }
      }
    } finally {
      Scratch.release(coef);
      Scratch.release(sumDyXhat);
      Scratch.release(sumDy);
      Scratch.release(chInvStd);
      Scratch.release(chMean);
    }
  }

  /** {@code dx = a*dy + b*(x - mean) + k} along each channel's contiguous positions, coefficients {@code [a | b | k | mean]}. */
  private static void applyChannelsFirst(float[] x, int xs, float[] dy, int gs, float[] dx, int ds, int channels, int spatial,
                                         float[] coef) {
    int vectorBound = SPECIES.loopBound(spatial);
    for (int c = 0; c < channels; c++) {
      float a = coef[c], b = coef[channels + c], k = coef[2 * channels + c], m = coef[3 * channels + c];
      FloatVector va = FloatVector.broadcast(SPECIES, a), vb = FloatVector.broadcast(SPECIES, b);
      FloatVector vk = FloatVector.broadcast(SPECIES, k), vm = FloatVector.broadcast(SPECIES, m);
      int off = c * spatial, i = 0;
      for (; i < vectorBound; i += LANES) {
        int p = off + i;
        FloatVector.fromArray(SPECIES, dy, gs + p).fma(va, FloatVector.fromArray(SPECIES, x, xs + p).sub(vm).fma(vb, vk))
            .intoArray(dx, ds + p);
      }
      for (; i < spatial; i++) { // scalar tail
        int p = off + i;
        dx[ds + p] = Math.fma(dy[gs + p], a, Math.fma(x[xs + p] - m, b, k));
      }
    }
  }
}
