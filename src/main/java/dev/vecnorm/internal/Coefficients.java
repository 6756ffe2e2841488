package dev.vecnorm.internal;

/**
 * Per-channel coefficients folded once before a pass, so the forward costs a subtract and an FMA per
 * element and the input gradient two FMAs: {@code dx = a*g + b*(x - mean) + k} with {@code a = gamma*invStd},
 * {@code b = -a*invStd*sumDyXhat/count}, {@code k = -a*sumDy/count} (the textbook
 * {@code gamma*invStd*(g - mean(g) - xhat*mean(g*xhat))} expanded).
 */
final class Coefficients {
  private Coefficients() {}

  /**
   * Forward: {@code [alpha | shift]} with {@code alpha = gamma * invStd} ({@code invStd} derived from a
   * variance when asked) and {@code shift = beta}, for {@code y = (x - mean) * alpha + shift}.
   */
  static float[] forward(float[] coef, int channels, float[] scale, boolean fromVariance, float epsilon, float[] gamma,
                             float[] beta) {
    for (int c = 0; c < channels; c++) {
      coef[c] = ScalarBatchNormSupport.alpha(scale, fromVariance, epsilon, gamma, c);
      coef[channels + c] = beta == null ? 0f : beta[c];
    }
    return coef;
  }

  /** Writes {@code [a_0..a_{C-1} | b_0.. | k_0..]} into {@code coef} (at least 3C floats) and returns it. */
  static float[] backward(float[] coef, int channels, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    for (int c = 0; c < channels; c++) {
      float a = gamma == null ? invStd[c] : gamma[c] * invStd[c];
      coef[c] = a;
      coef[channels + c] = (float) (-a * (double) invStd[c] * sumDyXhat[c] / count);
      coef[2 * channels + c] = (float) (-a * (double) sumDy[c] / count);
    }
    return coef;
  }
}
