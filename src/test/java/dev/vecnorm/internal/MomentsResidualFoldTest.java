package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A short channels-last moments call with one vector position per channel folds its scratch in vectors
 * ({@code PanamaBatchNormSupport.foldOnePositionPerChannel}), the mean residual too (ParallelBatchNorm's chunks ask for
 * it). Its mean, residual and variance must be {@code foldPositions}' bits, from the same scratch: pivots and running
 * means far apart in magnitude (the double sum of the two floats is then inexact, and the residual is that double
 * expression's rounding, not the float sum's exact error), signed zeros, and equal magnitudes of opposite sign.
 */
class MomentsResidualFoldTest {

  @ParameterizedTest
  @CsvSource({"0, 1", "16, 1", "256, 7", "1024, 128", "2048, 33"})
  void vectorFoldGivesTheScalarFoldsBits(int channels, int rows) {
    assumeTrue(VectorizationProvider.panama().isPresent(), "no Panama implementation on this JVM");
    int lanes = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
    int C = Math.max(lanes, channels - channels % lanes), P = C;
    SplittableRandom random = new SplittableRandom(C * 31L + rows);
    for (int trial = 0; trial < 20; trial++) {
      float[] s = new float[6 * P];
      for (int c = 0; c < C; c++) {
        double scale = Math.scalb(1.0, random.nextInt(-40, 41)); // pivot and running mean up to 2^80 apart
        s[c] = (float) (random.nextGaussian() * Math.scalb(1.0, random.nextInt(-20, 21)));
        s[4 * P + c] = switch (random.nextInt(6)) {
          case 0 -> -s[c];
          case 1 -> -0f;
          default -> (float) (random.nextGaussian() * scale);
        };
        s[5 * P + c] = (float) Math.abs(random.nextGaussian() * scale);
      }
      float[] mean = new float[C], residual = new float[C], variance = new float[C];
      float[] wantMean = new float[C], wantResidual = new float[C], wantVariance = new float[C];
      assertTrue(PanamaBatchNormSupport.foldOnePositionPerChannel(s.clone(), C, rows, mean, residual, variance));
      PanamaBatchNormSupport.foldPositions(new float[rows * C], 0, rows, C, rows, 1, C, false, P, s.clone(), wantMean,
          wantResidual, wantVariance);
      for (int c = 0; c < C; c++) {
        assertEquals(Float.floatToRawIntBits(wantMean[c]), Float.floatToRawIntBits(mean[c]), "mean, channel " + c);
        assertEquals(Float.floatToRawIntBits(wantResidual[c]), Float.floatToRawIntBits(residual[c]), "residual, channel " + c);
        assertEquals(Float.floatToRawIntBits(wantVariance[c]), Float.floatToRawIntBits(variance[c]), "variance, channel " + c);
      }
      float[] plainMean = new float[C], plainVariance = new float[C];
      assertTrue(PanamaBatchNormSupport.foldOnePositionPerChannel(s.clone(), C, rows, plainMean, null, plainVariance));
      for (int c = 0; c < C; c++) {
        assertEquals(Float.floatToRawIntBits(mean[c]), Float.floatToRawIntBits(plainMean[c]), "mean without residual, channel " + c);
        assertEquals(Float.floatToRawIntBits(variance[c]), Float.floatToRawIntBits(plainVariance[c]), "variance, channel " + c);
      }
    }
  }
}
