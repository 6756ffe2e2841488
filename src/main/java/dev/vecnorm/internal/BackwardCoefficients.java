package dev.vecnorm.internal;

/**
 * Per-channel coefficients of the batch-norm input gradient, folded once so the apply pass costs two
 * FMAs per element: {@code dx = a*g + b*(x - mean) + k} with {@code a = gamma*invStd},
 * {@code b = -a*invStd*sumDyXhat/count}, {@code k = -a*sumDy/count} (the textbook
 * {@code gamma*invStd*(g - mean(g) - xhat*mean(g*xhat))} expanded).
 */
final class BackwardCoefficients {
  private BackwardCoefficients() {}

  /** Writes {@code [a_0..a_{C-1} | b_0.. | k_0..]} into {@code coef} (at least 3C floats) and returns it. */
  static float[] fold(float[] coef, int channels, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    for (int c = 0; c < channels; c++) {
      float a = gamma == null ? invStd[c] : gamma[c] * invStd[c];
      coef[c] = a;
      coef[channels + c] = (float) (-a * (double) invStd[c] * sumDyXhat[c] / count);
      coef[2 * channels + c] = (float) (-a * (double) sumDy[c] / count);
    }
    return coef;
  }
}
