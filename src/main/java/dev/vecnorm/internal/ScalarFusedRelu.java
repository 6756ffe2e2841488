package dev.vecnorm.internal;

/** Scalar fused BN + (add) + ReLU over any [outer, channels, inner] layout, in memory order. */
public final class ScalarFusedRelu implements FusedReluSupport {
  public static final ScalarFusedRelu INSTANCE = new ScalarFusedRelu();

  private ScalarFusedRelu() {}

  @Override
  public void normalizeRelu(float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset,
                            int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] beta) {
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        float alpha = gamma == null ? invStd[c] : gamma[c] * invStd[c], shift = beta == null ? 0f : beta[c], m = mean[c];
        int base = (o * channels + c) * inner;
        for (int i = 0; i < inner; i++) {
          float v = Math.fma(x[xOffset + base + i] - m, alpha, shift);
          if (residual != null) v += residual[residualOffset + base + i];
          y[yOffset + base + i] = Math.max(v, 0f);
        }
      }
    }
  }

  @Override
  public void backwardReduceRelu(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, int outer,
                                 int channels, int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    java.util.Arrays.fill(sumDy, 0f);
    java.util.Arrays.fill(sumDyXhat, 0f);
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        int base = (o * channels + c) * inner;
        float sDy = 0, sDyX = 0, m = mean[c];
        for (int i = 0; i < inner; i++) {
          float g = y[yOffset + base + i] > 0 ? dy[dyOffset + base + i] : 0f;
          sDy += g;
          sDyX = Math.fma(g, x[xOffset + base + i] - m, sDyX);
        }
        sumDy[c] += sDy;
        sumDyXhat[c] += sDyX;
      }
    }
    for (int c = 0; c < channels; c++) sumDyXhat[c] *= invStd[c];
  }

  @Override
  public void backwardApplyRelu(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx,
                                int dxOffset, float[] dResidual, int dResidualOffset, int outer, int channels, int inner,
                                float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    float[] coef = Coefficients.backward(new float[3 * channels], channels, invStd, gamma, sumDy, sumDyXhat, count);
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        float a = coef[c], b = coef[channels + c], k = coef[2 * channels + c], m = mean[c];
        int base = (o * channels + c) * inner;
        for (int i = 0; i < inner; i++) {
          float g = y[yOffset + base + i] > 0 ? dy[dyOffset + base + i] : 0f;
          if (dResidual != null) dResidual[dResidualOffset + base + i] = g;
          dx[dxOffset + base + i] = Math.fma(g, a, Math.fma(x[xOffset + base + i] - m, b, k));
        }
      }
    }
  }
}
