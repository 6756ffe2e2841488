package dev.vecnorm.internal;

/**
 * Plain-Java layer norm and RMS norm: the fallback without the vector module and the reference the
 * Panama kernels are tested against. Row sums run in double (the JIT does not vectorize float
 * reductions anyway, so double costs nothing here and keeps the two passes' rounding negligible).
 */
public final class ScalarLayerNormSupport implements LayerNormSupport {

  public static final ScalarLayerNormSupport INSTANCE = new ScalarLayerNormSupport();

  private ScalarLayerNormSupport() {}

  @Override
  public String name() {
    return "scalar";
  }

  @Override
  public void forward(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] gamma, float[] beta,
                      float epsilon, float[] mean, float[] invStd, int statsOffset) {
    for (int r = 0; r < rows; r++) {
      int xo = xOffset + r * features, yo = yOffset + r * features;
      double sum = 0;
      for (int f = 0; f < features; f++) sum += x[xo + f];
      float m = (float) (sum / features);
      // Second pass relative to the float mean; the (Σd)² term corrects the mean's rounding.
      double sd = 0, sd2 = 0;
      for (int f = 0; f < features; f++) {
        double d = x[xo + f] - m;
        sd += d;
        sd2 += d * d;
      }
      double var = Math.max(0, (sd2 - sd * sd / features) / features);
      float s = (float) (1.0 / Math.sqrt(var + epsilon));
      if (mean != null) mean[statsOffset + r] = m;
      if (invStd != null) invStd[statsOffset + r] = s;
      for (int f = 0; f < features; f++) {
        float v = (x[xo + f] - m) * s;
        if (gamma != null) v *= gamma[f];
        if (beta != null) v += beta[f];
        y[yo + f] = v;
      }
    }
  }

  @Override
  public void backward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int features,
                       float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma, float[] dBeta) {
    for (int r = 0; r < rows; r++) {
      int xo = xOffset + r * features, go = dyOffset + r * features, dxo = dxOffset + r * features;
      float m = mean[statsOffset + r], s = invStd[statsOffset + r];
      double sumG = 0, sumGd = 0;
      for (int f = 0; f < features; f++) {
        float d = x[xo + f] - m, t = dy[go + f];
        float g = gamma == null ? t : t * gamma[f];
        sumG += g;
        sumGd += (double) g * d;
        if (dGamma != null) dGamma[f] += t * (d * s);
        if (dBeta != null) dBeta[f] += t;
      }
      // dx = g*a + d*b + k with a = s, b = -s^3 Σg·d / n, k = -s Σg / n.
      float a = s, b = (float) (-(double) s * s * s * sumGd / features), k = (float) (-s * sumG / features);
      for (int f = 0; f < features; f++) {
        float d = x[xo + f] - m, t = dy[go + f];
        float g = gamma == null ? t : t * gamma[f];
        dx[dxo + f] = g * a + d * b + k;
      }
    }
  }

  @Override
  public void rmsForward(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] gamma, float epsilon,
                         float[] invRms, int statsOffset) {
    for (int r = 0; r < rows; r++) {
      int xo = xOffset + r * features, yo = yOffset + r * features;
      double sq = 0;
      for (int f = 0; f < features; f++) sq += (double) x[xo + f] * x[xo + f];
      float s = (float) (1.0 / Math.sqrt(sq / features + epsilon));
      if (invRms != null) invRms[statsOffset + r] = s;
      for (int f = 0; f < features; f++) {
        float v = x[xo + f] * s;
        y[yo + f] = gamma == null ? v : v * gamma[f];
      }
    }
  }

  @Override
  public void rmsBackward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int features,
                          float[] gamma, float[] invRms, int statsOffset, float[] dGamma) {
    for (int r = 0; r < rows; r++) {
      int xo = xOffset + r * features, go = dyOffset + r * features, dxo = dxOffset + r * features;
      float s = invRms[statsOffset + r];
      double sumGx = 0;
      for (int f = 0; f < features; f++) {
        float v = x[xo + f], t = dy[go + f];
        float g = gamma == null ? t : t * gamma[f];
        sumGx += (double) g * v;
        if (dGamma != null) dGamma[f] += t * (v * s);
      }
      float k = (float) (-(double) s * s * s * sumGx / features);
      for (int f = 0; f < features; f++) {
        float v = x[xo + f], t = dy[go + f];
        float g = gamma == null ? t : t * gamma[f];
        dx[dxo + f] = g * s + v * k;
      }
    }
  }
}
