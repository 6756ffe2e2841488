package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** {@link LayerNorm#warmUp}, {@link RmsNorm#warmUp} and {@link GroupNorm#warmUp}: checks, stand-ins, budget, and no effect on results. */
class FamilyWarmUpTest {

  @Test
  void rejectsBadSizesMissingShapesAndNonPositiveBudgets() {
    assertThrows(IllegalArgumentException.class, () -> LayerNorm.warmUp(0, 8));
    assertThrows(IllegalArgumentException.class, () -> RmsNorm.warmUp(8, 0));
    assertThrows(NullPointerException.class, () -> GroupNorm.warmUp(null));
    GroupShape g = GroupShape.nchw(2, 4, 9, 2);
    for (Duration bad : new Duration[] {null, Duration.ZERO, Duration.ofMillis(-1)}) {
      for (Runnable call : new Runnable[] {() -> LayerNorm.warmUp(4, 8, null, bad), () -> RmsNorm.warmUp(4, 8, null, bad),
          () -> GroupNorm.warmUp(g, null, bad)}) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertTrue(e.getMessage().contains("budget"), e.getMessage());
      }
    }
  }

  @Test
  void largeSizesAreWarmedOnFewerRowsOfTheSameLength() {
    assertEquals(5, WarmUp.standInRows(5, 768));
    int r = WarmUp.standInRows(1 << 20, 768);
    assertTrue((long) r * 768 <= WarmUp.CAP_FLOATS && (long) r * 768 > WarmUp.CAP_FLOATS / 2, "rows " + r);
    assertEquals(1, WarmUp.standInRows(3, 2_000_000)); // one row over the cap: that row
    // The first phase: a sixteenth of the floats, at least 2 rows, only when that makes calls 4x cheaper.
    assertEquals(WarmUp.SMALL_FLOATS / 768, WarmUp.smallStandInRows(r, 768));
    assertEquals(0, WarmUp.smallStandInRows(16, 768));
    assertEquals(0, WarmUp.smallStandInRows(r, 9000));
  }

  @Test
  void stopsAtItsBudget() {
    long t0 = System.nanoTime();
    GroupNorm.warmUp(GroupShape.nhwc(64, 56 * 56, 64, 32), null, Duration.ofMillis(200));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    // The budget plus one call of the stand-in in the interpreter (1 Mi floats) and the setup; generous for a loaded machine.
    assertTrue(ms < 200 + 5000, "took " + ms + " ms");
  }

  @Test
  void resultsAreTheSameBitsBeforeAndAfterAWarmUp() {
    int rows = 33, features = 100;
    float[][] before = rows(rows, features);
    LayerNorm.warmUp(rows, features, Arena.ofAuto(), Duration.ofMillis(300));
    RmsNorm.warmUp(rows, features, Arena.ofAuto(), Duration.ofMillis(300));
    float[][] after = rows(rows, features);
    for (int i = 0; i < before.length; i++) assertArrayEquals(before[i], after[i], "row output " + i);
    for (GroupShape s : new GroupShape[] {GroupShape.nchw(3, 8, 50, 4), GroupShape.nhwc(3, 50, 8, 4)}) {
      float[][] b = groups(s);
      GroupNorm.warmUp(s, Arena.ofAuto(), Duration.ofMillis(300));
      float[][] a = groups(s);
      for (int i = 0; i < b.length; i++) assertArrayEquals(b[i], a[i], s + " output " + i);
    }
  }

  private static float[] data(int n, long seed, double center) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (center + r.nextGaussian() * 0.01);
    return a;
  }

  /** LayerNorm and RMSNorm forward and backward, with and without gamma/beta; every output. */
  private static float[][] rows(int rows, int f) {
    float[] x = data(rows * f, 1, 1e4), dy = data(rows * f, 2, 0), gamma = data(f, 3, 1), beta = data(f, 4, 0);
    float[] y = new float[rows * f], dx = new float[rows * f], mean = new float[rows], invStd = new float[rows];
    float[] dGamma = new float[f], dBeta = new float[f], ry = new float[rows * f], rdx = new float[rows * f], inv = new float[rows];
    float[] rdGamma = new float[f], y0 = new float[rows * f], dx0 = new float[rows * f];
    LayerNorm.forward(rows, f, x, 0, gamma, beta, 1e-3f, y, 0, mean, invStd);
    LayerNorm.backward(rows, f, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
    LayerNorm.forward(rows, f, x, 0, null, null, 1e-3f, y0, 0, null, null);
    LayerNorm.backward(rows, f, x, 0, dy, 0, null, mean, invStd, dx0, 0, null, null);
    RmsNorm.forward(rows, f, x, 0, gamma, 1e-3f, ry, 0, inv);
    RmsNorm.backward(rows, f, x, 0, dy, 0, gamma, inv, rdx, 0, rdGamma);
    return new float[][] {y, dx, mean, invStd, dGamma, dBeta, ry, rdx, inv, rdGamma, y0, dx0};
  }

  /** GroupNorm forward and backward, with and without gamma/beta; every output. */
  private static float[][] groups(GroupShape s) {
    int n = Math.toIntExact((long) s.batch() * s.channels() * s.spatial()), c = s.channels(), k = s.statistics();
    float[] x = data(n, 5, 1e4), dy = data(n, 6, 0), gamma = data(c, 7, 1), beta = data(c, 8, 0);
    float[] y = new float[n], dx = new float[n], mean = new float[k], invStd = new float[k], dGamma = new float[c], dBeta = new float[c];
    float[] y0 = new float[n], dx0 = new float[n];
    GroupNorm.forward(s, x, 0, gamma, beta, 1e-3f, y, 0, mean, invStd);
    GroupNorm.backward(s, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
    GroupNorm.forward(s, x, 0, null, null, 1e-3f, y0, 0, null, null);
    GroupNorm.backward(s, x, 0, dy, 0, null, mean, invStd, dx0, 0, null, null);
    return new float[][] {y, dx, mean, invStd, dGamma, dBeta, y0, dx0};
  }
}
