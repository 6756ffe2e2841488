package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** {@link BatchNorm#warmUp}: argument checks, its stand-in shape, its budget, and that it changes no result. */
class WarmUpTest {

  @Test
  void rejectsMissingShapeAndNonPositiveBudgets() {
    assertThrows(NullPointerException.class, () -> BatchNorm.warmUp(null));
    NormShape s = NormShape.channelsLast(4, 3);
    for (Duration bad : new Duration[] {null, Duration.ZERO, Duration.ofMillis(-1)}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BatchNorm.warmUp(s, null, bad));
      assertTrue(e.getMessage().contains("budget"), e.getMessage());
    }
  }

  @Test
  void largeShapesAreWarmedOnFewerSlabsOfTheSameChannelsAndInnerSize() {
    NormShape small = NormShape.channelsFirst(7, 17, 169);
    assertEquals(small, WarmUp.standIn(small));
    NormShape nhwc = NormShape.channelsLast(64 * 56 * 56, 64);
    NormShape s = WarmUp.standIn(nhwc);
    assertEquals(64, s.channels());
    assertEquals(1, s.inner());
    assertTrue(s.size() <= WarmUp.CAP_FLOATS && s.size() > WarmUp.CAP_FLOATS / 2, s.toString());
    // One slab over the cap: one slab of shorter planes, the same length modulo 64 floats.
    NormShape huge = WarmUp.standIn(NormShape.channelsFirst(2, 3, (1 << 20) + 7));
    assertEquals(1, huge.outer());
    assertEquals(3, huge.channels());
    assertEquals(7, huge.inner() % 64);
    assertTrue(huge.size() <= WarmUp.CAP_FLOATS + 3 * 64 && huge.size() >= WarmUp.CAP_FLOATS - 3, huge.toString());
    // Planes of 1024+ floats stay 1024+ (the per-channel backward), whatever the channel count.
    NormShape wide = WarmUp.standIn(NormShape.channelsFirst(1, 4096, 1030));
    assertTrue(wide.inner() >= 1024 && wide.inner() % 64 == 1030 % 64, wide.toString());
  }

  @Test
  void stopsAtItsBudget() {
    // 20 ms cannot be enough to compile anything, so the budget is what ends the warm-up. A small shape:
    // the budget is checked between calls, and one interpreted call on 512 Ki floats took ~2 s on a loaded
    // 2-core machine, which measured the load rather than the budget.
    Duration spent = BatchNorm.warmUp(NormShape.channelsFirst(4, 16, 1024), Arena.ofAuto(), Duration.ofMillis(20));
    assertTrue(spent.toMillis() < 2_000, "warm-up with a 20 ms budget took " + spent);
  }

  @Test
  void readsHotSpotsCompileQueue() {
    // The warm-up's end condition: on HotSpot the queue must be readable, or every warm-up falls back to quiet time.
    String vm = System.getProperty("java.vm.name", "");
    assumeTrue(vm.contains("HotSpot") || vm.contains("OpenJDK"), "not HotSpot: " + vm);
    WarmUp.JitQueue q = WarmUp.JitQueue.open();
    assertTrue(q.available(), "DiagnosticCommand compilerQueue not readable");
    String text = q.text();
    assertTrue(text != null && text.contains("C2 compile queue"), "unexpected compilerQueue output: " + text);
  }

  @Test
  void resultsAreTheSameBitsBeforeAndAfterAWarmUp() {
    NormShape[] shapes = {NormShape.channelsLast(33, 17), NormShape.channelsFirst(3, 5, 1030)};
    for (NormShape s : shapes) {
      float[][] before = run(s);
      BatchNorm.warmUp(s, Arena.ofAuto(), Duration.ofMillis(300));
      float[][] after = run(s);
      for (int i = 0; i < before.length; i++) assertArrayEquals(before[i], after[i], s + " output " + i);
    }
  }

  /** Training forward then backward on fixed random data; every output. */
  private static float[][] run(NormShape s) {
    int n = Math.toIntExact(s.size()), c = s.channels();
    SplittableRandom r = new SplittableRandom(7);
    float[] x = new float[n], dy = new float[n], y = new float[n], dx = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (1e4 + r.nextGaussian() * 0.01);
      dy[i] = (float) r.nextGaussian();
    }
    float[] gamma = new float[c], beta = new float[c];
    for (int k = 0; k < c; k++) {
      gamma[k] = 1 + k * 0.25f;
      beta[k] = -k;
    }
    float[] mean = new float[c], variance = new float[c], invStd = new float[c], dGamma = new float[c], dBeta = new float[c];
    BatchNorm.forwardTraining(s, x, 0, gamma, beta, 1e-3f, y, 0, mean, variance, invStd);
    BatchNorm.backward(s, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
    return new float[][] {y, mean, variance, invStd, dx, dGamma, dBeta};
  }
}
