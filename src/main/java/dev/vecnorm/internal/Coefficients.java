package dev.vecnorm.internal;

/**
 * Per-channel coefficients folded once before a pass, so the forward costs a subtract and an FMA per
 * element and the input gradient two FMAs: {@code dx = a*g + b*(x - mean) + k} with {@code a = gamma*invStd},
 * {@code b = -a*invStd*sumDyXhat/count}, {@code k = -a*sumDy/count} (the textbook
 * {@code gamma*invStd*(g - mean(g) - xhat*mean(g*xhat))} expanded).
 */
public final class Coefficients {
  private Coefficients() {}

  /**
   * Forward: {@code [alpha | shift]} with {@code alpha = gamma * invStd} ({@code invStd} derived from a
   * variance when asked) and {@code shift = beta}, for {@code y = (x - mean) * alpha + shift}.
   */
  static float[] forward(float[] coef, int channels, float[] scale, boolean fromVariance, float epsilon, float[] gamma,
                             float[] beta) {
    return folded(coef, channels, 0, channels, null, scale, fromVariance, epsilon, gamma, beta);
  }

  /**
   * Channels {@code [from, to)} of the forward coefficients {@code [alpha | shift | mean]} ({@link #forward}'s
   * {@code [alpha | shift]}, then the mean unless {@code mean} is null; each section {@code channels}
   * long), as a normalize takes them folded ({@link BatchNormSupport#normalizeFolded}): the one-row
   * normalize folds all channels, {@code ParallelBatchNorm}'s merge ranges the channels each has just merged.
   */
  public static float[] folded(float[] coef, int channels, int from, int to, float[] mean, float[] scale, boolean fromVariance,
                               float epsilon, float[] gamma, float[] beta) {
    // ScalarBatchNormSupport.alpha's expressions with its branches hoisted, one output per loop, so C2
    // vectorizes them (the double square root and division too): the per-channel loop with the branches
    // inside took ~1 µs per call at 1024 channels, ~4-8 µs when derived from a variance (inference),
    // against ~0.1 µs; every normalize call pays it. Same expressions, so the same bits.
    int n = to - from;
    if (fromVariance) {
      ScalarBatchNormSupport.invStd(scale, epsilon, coef, from, to);
    } else {
      System.arraycopy(scale, from, coef, from, n);
    }
    if (gamma != null) {
      for (int c = from; c < to; c++) coef[c] = gamma[c] * coef[c];
    }
    if (beta == null) {
      java.util.Arrays.fill(coef, channels + from, channels + to, 0f);
    } else {
      System.arraycopy(beta, from, coef, channels + from, n);
    }
    if (mean != null) System.arraycopy(mean, from, coef, 2 * channels + from, n);
    return coef;
  }

  /** Writes {@code [a_0..a_{C-1} | b_0.. | k_0..]} into {@code coef} (at least 3C floats) and returns it. */
  static float[] backward(float[] coef, int channels, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    // backwardA/B/K in one loop whose every load and store is at index c (C2 unswitches the loop on gamma; a
    // into coef, b and k into pooled arrays, then copied into place): C2 does not vectorize a loop that stores
    // coef[channels + c] while loading other float arrays at c, since they might be coef itself, shifted (b's loop over
    // 1000 channels: 1503 ns at the offset, 377-404 at c; docs/probes/InvStdAB.java). One loop, not three: where C2
    // compiled this with a profile of a few channels (tiny shapes run first in the JVM) it does not vectorize it, and
    // three scalar loops then cost more than one. Same expressions, so the same bits.
    float[] tb = Scratch.borrow(channels), tk = Scratch.borrow(channels);
    try {
      for (int c = 0; c < channels; c++) {
        float a = backwardA(invStd, gamma, c);
        coef[c] = a;
        tb[c] = backwardB(a, invStd, sumDyXhat, count, c);
        tk[c] = backwardK(a, sumDy, count, c);
      }
      System.arraycopy(tb, 0, coef, channels, channels);
      System.arraycopy(tk, 0, coef, 2 * channels, channels);
    } finally {
      Scratch.release(tk);
      Scratch.release(tb);
    }
    return coef;
  }

  /** Channel c's {@code a = gamma * invStd}: for loops that fold one channel at a time (after that channel's reduce). */
  static float backwardA(float[] invStd, float[] gamma, int c) {
    return gamma == null ? invStd[c] : gamma[c] * invStd[c];
  }

  /** Channel c's {@code b = -a * invStd * sumDyXhat / count}, in double, rounded once. */
  static float backwardB(float a, float[] invStd, float[] sumDyXhat, double count, int c) {
    return (float) (-a * (double) invStd[c] * sumDyXhat[c] / count);
  }

  /** Channel c's {@code k = -a * sumDy / count}, in double, rounded once. */
  static float backwardK(float a, float[] sumDy, double count, int c) {
    return (float) (-a * (double) sumDy[c] / count);
  }
}
