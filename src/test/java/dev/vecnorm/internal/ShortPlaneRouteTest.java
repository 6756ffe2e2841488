package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link PanamaNativeShortPlanes#normalize}, the short-plane route that the thirteenth session switched off
 * ({@link PanamaNativeShortPlanes#applies} is false: no library call reaches it on any machine now), called
 * directly so the kept code stays correct for the day it is switched back on. Each output must be
 * {@code fma(x - mean[c], alpha[c], shift[c])} in float, computed here one element at a time with
 * {@link Math#fma}: the same two roundings as the vector lanes, so the comparison is exact. Shapes cover runs of
 * whole planes with a ragged (masked) end, several groups of channels per run and a partial last group, planes
 * of 2 to {@link PanamaNativeShortPlanes#MAX_INNER} floats, and y = x.
 */
class ShortPlaneRouteTest {

  @ParameterizedTest
  @CsvSource({"4,64,49,false", "5,33,49,true", "3,7,2,false", "2,100,17,false", "4,9,128,true", "1,1,1,false", "6,40,25,false"})
  void sameBitsAsScalarFma(int outer, int channels, int inner, boolean inPlace) {
    assertFalse(PanamaNativeShortPlanes.applies(outer, channels, inner), "the route is off");
    int n = outer * channels * inner;
    Random random = new Random(31L * n + channels);
    float[] mean = new float[channels], coef = new float[2 * channels];
    for (int c = 0; c < channels; c++) {
      mean[c] = (float) random.nextGaussian();
      coef[c] = 0.5f + random.nextFloat();
      coef[channels + c] = (float) random.nextGaussian();
    }
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment x = arena.allocate(4L * n + 64, 64), y = inPlace ? x : arena.allocate(4L * n + 64, 64);
      float[] in = new float[n];
      for (int i = 0; i < n; i++) {
        in[i] = 3 * (float) random.nextGaussian() + 1;
        x.setAtIndex(ValueLayout.JAVA_FLOAT, i + 4, in[i]); // 16 bytes into the segment: not vector-aligned
      }
      PanamaNativeShortPlanes.normalize(x, 16, y, 16, outer, channels, inner, mean, coef);
      for (int i = 0; i < n; i++) {
        int c = i / inner % channels;
        float expected = Math.fma(in[i] - mean[c], coef[c], coef[channels + c]);
        assertEquals(Float.floatToIntBits(expected), Float.floatToIntBits(y.getAtIndex(ValueLayout.JAVA_FLOAT, i + 4)),
            "element " + i + " of [" + outer + ", " + channels + ", " + inner + "]");
      }
      if (!inPlace) {
        assertEquals(0f, y.getAtIndex(ValueLayout.JAVA_FLOAT, 3), "wrote before y");
        assertEquals(0f, y.getAtIndex(ValueLayout.JAVA_FLOAT, n + 4), "wrote past y");
      }
    }
  }
}
