package dev.vecnorm.internal;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API fused BN + (add) + ReLU. Channels-last sweeps rows with per-channel coefficients folded
 * into C-float arrays; channels-first sweeps each (outer, channel) slice with broadcast coefficients.
 * The backward mask {@code y > 0} is a lane compare and a blend, no stored workspace.
 */
final class PanamaFusedRelu implements FusedReluSupport {
  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();

  PanamaFusedRelu() {
    if (SPECIES.vectorBitSize() < 128) throw new UnsupportedOperationException("vectors narrower than 128 bits");
  }

  @Override
  public void normalizeRelu(float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset,
                            int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] beta) {
    if (inner == 1) {
      float[] coef = Coefficients.forward(Scratch.borrow(2 * channels), channels, invStd, false, 1f, gamma, beta);
      try {
        reluRows(x, xOffset, residual, residualOffset, y, yOffset, outer, channels, mean, coef);
      } finally {
        Scratch.release(coef);
      }
      return;
    }
    reluSlices(x, xOffset, residual, residualOffset, y, yOffset, outer, channels, inner, mean, invStd, gamma, beta);
  }

  private static void reluRows(float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset, int outer,
                               int channels, float[] mean, float[] coef) {
    {
      int bound = SPECIES.loopBound(channels);
      for (int r = 0; r < outer; r++) {
        int row = r * channels;
        int c = 0;
        for (; c < bound; c += LANES) {
          FloatVector v = FloatVector.fromArray(SPECIES, x, xOffset + row + c).sub(FloatVector.fromArray(SPECIES, mean, c))
              .fma(FloatVector.fromArray(SPECIES, coef, c), FloatVector.fromArray(SPECIES, coef, channels + c));
          if (residual != null) v = v.add(FloatVector.fromArray(SPECIES, residual, residualOffset + row + c));
          v.max(0f).intoArray(y, yOffset + row + c);
        }
        for (; c < channels; c++) { // scalar tail
          float v = Math.fma(x[xOffset + row + c] - mean[c], coef[c], coef[channels + c]);
          if (residual != null) v += residual[residualOffset + row + c];
          y[yOffset + row + c] = Math.max(v, 0f);
        }
      }
    }
  }

  private static void reluSlices(float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset, int outer,
                                 int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] beta) {
    int bound = SPECIES.loopBound(inner);
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        float alpha = gamma == null ? invStd[c] : gamma[c] * invStd[c], shift = beta == null ? 0f : beta[c];
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]), a = FloatVector.broadcast(SPECIES, alpha);
        FloatVector b = FloatVector.broadcast(SPECIES, shift);
        int base = (o * channels + c) * inner, i = 0;
        for (; i < bound; i += LANES) {
          FloatVector v = FloatVector.fromArray(SPECIES, x, xOffset + base + i).sub(m).fma(a, b);
          if (residual != null) v = v.add(FloatVector.fromArray(SPECIES, residual, residualOffset + base + i));
          v.max(0f).intoArray(y, yOffset + base + i);
        }
        for (; i < inner; i++) { // scalar tail
          float v = Math.fma(x[xOffset + base + i] - mean[c], alpha, shift);
          if (residual != null) v += residual[residualOffset + base + i];
          y[yOffset + base + i] = Math.max(v, 0f);
        }
      }
    }
  }

  private static FloatVector masked(float[] dy, int dyAt, float[] y, int yAt) {
    FloatVector g = FloatVector.fromArray(SPECIES, dy, dyAt);
    return FloatVector.zero(SPECIES).blend(g, FloatVector.fromArray(SPECIES, y, yAt).compare(VectorOperators.GT, 0f));
  }

  @Override
  public void backwardReduceRelu(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, int outer,
                                 int channels, int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    java.util.Arrays.fill(sumDy, 0f);
    java.util.Arrays.fill(sumDyXhat, 0f);
    if (inner == 1) {
      int bound = SPECIES.loopBound(channels);
      for (int r = 0; r < outer; r++) {
        int row = r * channels;
        int c = 0;
        for (; c < bound; c += LANES) {
          FloatVector g = masked(dy, dyOffset + row + c, y, yOffset + row + c);
          g.add(FloatVector.fromArray(SPECIES, sumDy, c)).intoArray(sumDy, c);
          g.fma(FloatVector.fromArray(SPECIES, x, xOffset + row + c).sub(FloatVector.fromArray(SPECIES, mean, c)),
              FloatVector.fromArray(SPECIES, sumDyXhat, c)).intoArray(sumDyXhat, c);
        }
        for (; c < channels; c++) { // scalar tail
          float g = y[yOffset + row + c] > 0 ? dy[dyOffset + row + c] : 0f;
          sumDy[c] += g;
          sumDyXhat[c] = Math.fma(g, x[xOffset + row + c] - mean[c], sumDyXhat[c]);
        }
      }
    } else {
      int bound = SPECIES.loopBound(inner);
      for (int o = 0; o < outer; o++) {
        for (int c = 0; c < channels; c++) {
          FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
          FloatVector accDy = FloatVector.zero(SPECIES), accDyX = FloatVector.zero(SPECIES);
          int base = (o * channels + c) * inner, i = 0;
          for (; i < bound; i += LANES) {
            FloatVector g = masked(dy, dyOffset + base + i, y, yOffset + base + i);
            accDy = accDy.add(g);
            accDyX = g.fma(FloatVector.fromArray(SPECIES, x, xOffset + base + i).sub(m), accDyX);
          }
          float sDy = 0, sDyX = 0;
          for (int l = 0; l < LANES; l++) { // once per slice, fixed order: same bits interpreted or compiled
            sDy += accDy.lane(l);
            sDyX += accDyX.lane(l);
          }
          for (; i < inner; i++) { // scalar tail
            float g = y[yOffset + base + i] > 0 ? dy[dyOffset + base + i] : 0f;
            sDy += g;
            sDyX = Math.fma(g, x[xOffset + base + i] - mean[c], sDyX);
          }
          sumDy[c] += sDy;
          sumDyXhat[c] += sDyX;
        }
      }
    }
    for (int c = 0; c < channels; c++) sumDyXhat[c] *= invStd[c];
  }

  @Override
  public void backwardApplyRelu(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx,
                                int dxOffset, float[] dResidual, int dResidualOffset, int outer, int channels, int inner,
                                float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    float[] coef = Coefficients.backward(Scratch.borrow(3 * channels), channels, invStd, gamma, sumDy, sumDyXhat, count);
    try {
      applyRelu(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset, outer, channels, inner, mean, coef);
    } finally {
      Scratch.release(coef);
    }
  }

  private static void applyRelu(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                                float[] dResidual, int dResidualOffset, int outer, int channels, int inner, float[] mean,
                                float[] coef) {
    if (inner == 1) {
      int bound = SPECIES.loopBound(channels);
      for (int r = 0; r < outer; r++) {
        int row = r * channels;
        int c = 0;
        for (; c < bound; c += LANES) {
          FloatVector g = masked(dy, dyOffset + row + c, y, yOffset + row + c);
          if (dResidual != null) g.intoArray(dResidual, dResidualOffset + row + c);
          FloatVector lin = FloatVector.fromArray(SPECIES, x, xOffset + row + c).sub(FloatVector.fromArray(SPECIES, mean, c))
              .fma(FloatVector.fromArray(SPECIES, coef, channels + c), FloatVector.fromArray(SPECIES, coef, 2 * channels + c));
          g.fma(FloatVector.fromArray(SPECIES, coef, c), lin).intoArray(dx, dxOffset + row + c);
        }
        for (; c < channels; c++) applyScalar(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset,
            row + c, mean[c], coef[c], coef[channels + c], coef[2 * channels + c]); // scalar tail
      }
      return;
    }
    int bound = SPECIES.loopBound(inner);
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]), a = FloatVector.broadcast(SPECIES, coef[c]);
        FloatVector b = FloatVector.broadcast(SPECIES, coef[channels + c]), k = FloatVector.broadcast(SPECIES, coef[2 * channels + c]);
        int base = (o * channels + c) * inner, i = 0;
        for (; i < bound; i += LANES) {
          FloatVector g = masked(dy, dyOffset + base + i, y, yOffset + base + i);
          if (dResidual != null) g.intoArray(dResidual, dResidualOffset + base + i);
          g.fma(a, FloatVector.fromArray(SPECIES, x, xOffset + base + i).sub(m).fma(b, k)).intoArray(dx, dxOffset + base + i);
        }
        for (; i < inner; i++) applyScalar(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset,
            base + i, mean[c], coef[c], coef[channels + c], coef[2 * channels + c]); // scalar tail
      }
    }
  }

  private static void applyScalar(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx,
                                  int dxOffset, float[] dResidual, int dResidualOffset, int at, float mean, float a, float b, float k) {
    float g = y[yOffset + at] > 0 ? dy[dyOffset + at] : 0f;
    if (dResidual != null) dResidual[dResidualOffset + at] = g;
    dx[dxOffset + at] = Math.fma(g, a, Math.fma(x[xOffset + at] - mean, b, k));
  }
}
