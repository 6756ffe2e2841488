package dev.vecnorm.internal;

/**
 * Plain-Java group norm: the fallback without the vector module. One (sample, group) at a time,
 * walking its channels and positions with the layout's strides; sums in double (the JIT does not
 * vectorize float reductions, so double costs nothing here), two passes for the variance as
 * {@link ScalarLayerNormSupport}. Groups are disjoint, so writing a group right after reading it is
 * safe in place.
 */
public final class ScalarGroupNormSupport implements GroupNormSupport {

  public static final ScalarGroupNormSupport INSTANCE = new ScalarGroupNormSupport();

  private ScalarGroupNormSupport() {}

  @Override
  public String name() {
    return "scalar";
  }

  @Override
  public void forward(float[] x, int xOffset, float[] y, int yOffset, int batch, int channels, int spatial, int groups,
                      boolean channelsLast, float[] gamma, float[] beta, float epsilon, float[] mean, float[] invStd, int statsOffset) {
    int cpg = channels / groups, cs = channelsLast ? 1 : spatial, ps = channelsLast ? channels : 1;
    long count = (long) cpg * spatial;
    for (int n = 0; n < batch; n++) {
      int sample = n * channels * spatial;
      for (int g = 0; g < groups; g++) {
        int c0 = g * cpg;
        double sum = 0;
        for (int c = c0; c < c0 + cpg; c++) {
          for (int p = 0, i = sample + c * cs; p < spatial; p++, i += ps) sum += x[xOffset + i];
        }
        float m = (float) (sum / count);
        // Second pass relative to the float mean; the (Σd)² term corrects the mean's rounding.
        double sd = 0, sd2 = 0;
        for (int c = c0; c < c0 + cpg; c++) {
          for (int p = 0, i = sample + c * cs; p < spatial; p++, i += ps) {
            double d = x[xOffset + i] - m;
            sd += d;
            sd2 += d * d;
          }
        }
        float s = (float) (1.0 / Math.sqrt(Math.max(0, (sd2 - sd * sd / count) / count) + epsilon));
        if (mean != null) mean[statsOffset + n * groups + g] = m;
        if (invStd != null) invStd[statsOffset + n * groups + g] = s;
        for (int c = c0; c < c0 + cpg; c++) {
          float alpha = gamma == null ? s : gamma[c] * s, shift = beta == null ? 0f : beta[c];
          for (int p = 0, i = sample + c * cs; p < spatial; p++, i += ps) y[yOffset + i] = Math.fma(x[xOffset + i] - m, alpha, shift);
        }
      }
    }
  }

  @Override
  public void backward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int batch, int channels, int spatial,
                       int groups, boolean channelsLast, float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma,
                       float[] dBeta) {
    int cpg = channels / groups, cs = channelsLast ? 1 : spatial, ps = channelsLast ? channels : 1;
    long count = (long) cpg * spatial;
    for (int n = 0; n < batch; n++) {
      int sample = n * channels * spatial;
      for (int g = 0; g < groups; g++) {
        int c0 = g * cpg;
        float m = mean[statsOffset + n * groups + g], s = invStd[statsOffset + n * groups + g];
        double sumG = 0, sumGd = 0;
        for (int c = c0; c < c0 + cpg; c++) {
          double sumDy = 0, sumDyD = 0;
          for (int p = 0, i = sample + c * cs; p < spatial; p++, i += ps) {
            double t = dy[dyOffset + i];
            sumDy += t;
            sumDyD += t * (x[xOffset + i] - m);
          }
          double gc = gamma == null ? 1 : gamma[c];
          sumG += gc * sumDy;
          sumGd += gc * sumDyD;
          if (dGamma != null) dGamma[c] += (float) (sumDyD * s);
          if (dBeta != null) dBeta[c] += (float) sumDy;
        }
        // dx = dy*a_c + (x - mean)*b + k with a_c = gamma_c*s, b = -s^3 Σg·(x-mean) / n, k = -s Σg / n.
        float b = (float) (-(double) s * s * s * sumGd / count), k = (float) (-s * sumG / count);
        for (int c = c0; c < c0 + cpg; c++) {
          float a = gamma == null ? s : gamma[c] * s;
          for (int p = 0, i = sample + c * cs; p < spatial; p++, i += ps) {
            dx[dxOffset + i] = Math.fma(dy[dyOffset + i], a, Math.fma(x[xOffset + i] - m, b, k));
          }
        }
      }
    }
  }
  // ---------------------------------------------------------------- row ranges of a channels-last sample

  /** Per channel, two passes in double: the mean, then the variance about it. */
  @Override
  public void rowMoments(float[] x, int xOffset, int rows, int channels, float[] mean, float[] meanResidual, float[] variance) {
    for (int c = 0; c < channels; c++) {
      double sum = 0;
      for (int r = 0, i = xOffset + c; r < rows; r++, i += channels) sum += x[i];
      double m = sum / rows, q = 0;
      for (int r = 0, i = xOffset + c; r < rows; r++, i += channels) q += (x[i] - m) * (x[i] - m);
      mean[c] = (float) m;
      meanResidual[c] = (float) (m - mean[c]);
      variance[c] = (float) (q / rows);
    }
  }

  @Override
  public void rowNormalize(float[] x, int xOffset, float[] y, int yOffset, int rows, int channels, float[] chMean, float[] chInvStd,
                           float[] gamma, float[] beta) {
    for (int r = 0, row = 0; r < rows; r++, row += channels) {
      for (int c = 0; c < channels; c++) {
        float alpha = gamma == null ? chInvStd[c] : gamma[c] * chInvStd[c], shift = beta == null ? 0f : beta[c];
        y[yOffset + row + c] = Math.fma(x[xOffset + row + c] - chMean[c], alpha, shift);
      }
    }
  }

  @Override
  public void rowGradientSums(float[] x, int xOffset, float[] dy, int dyOffset, int rows, int channels, float[] chMean,
                              float[] chInvStd, float[] sumDy, float[] sumDyXhat) {
    for (int c = 0; c < channels; c++) {
      double sd = 0, sdd = 0;
      for (int r = 0, i = c; r < rows; r++, i += channels) {
        double t = dy[dyOffset + i];
        sd += t;
        sdd += t * (x[xOffset + i] - chMean[c]);
      }
      sumDy[c] = (float) sd;
      sumDyXhat[c] = (float) (sdd * chInvStd[c]);
    }
  }

  @Override
  public void rowApply(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int channels,
                       float[] coef) {
    for (int r = 0, row = 0; r < rows; r++, row += channels) {
      for (int c = 0; c < channels; c++) {
        int i = row + c;
        dx[dxOffset + i] = Math.fma(dy[dyOffset + i], coef[c],
            Math.fma(x[xOffset + i] - coef[3 * channels + c], coef[channels + c], coef[2 * channels + c]));
      }
    }
  }
}
