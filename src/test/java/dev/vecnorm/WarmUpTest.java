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
  void largeShapesStartOnASixteenthWithTheSameChannelsAndInnerSize() {
    // NC 256x1024: 16 rows of the same 1024 channels, a sixteenth of the floats.
    NormShape nc = NormShape.channelsLast(256, 1024);
    assertEquals(new NormShape(16, 1024, 1), WarmUp.smallStandIn(nc));
    for (NormShape s : new NormShape[] {nc, WarmUp.standIn(NormShape.channelsLast(64 * 56 * 56, 64)),
        NormShape.channelsFirst(256, 3, 300), NormShape.channelsLast(100_000, 33)}) {
      NormShape small = WarmUp.smallStandIn(s);
      assertEquals(s.channels(), small.channels(), s.toString());
      assertEquals(s.inner(), small.inner(), s.toString());
      assertTrue(small.outer() >= 2 && small.size() <= WarmUp.SMALL_FLOATS && 4 * small.size() <= s.size(), s + " -> " + small);
    }
    // No first phase where it would not make calls at least 4x cheaper, or where one slab is over half of it.
    assertEquals(null, WarmUp.smallStandIn(NormShape.channelsFirst(7, 17, 169)));
    assertEquals(null, WarmUp.smallStandIn(NormShape.channelsFirst(16, 64, 3136)));
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
  void turnsGoToTheUnfinishedOperationWithTheFewestCalls() {
    // Counted in calls, not time: an operation whose calls are still slow (interpreted, C1) must not fall
    // behind in the invocation counts that decide when HotSpot compiles its kernels.
    int[] target = {100, 100, 100}, stale = {WarmUp.STABLE_WINDOWS, WarmUp.STABLE_WINDOWS, WarmUp.STABLE_WINDOWS};
    assertEquals(1, WarmUp.nextOperation(new int[] {40, 7, 12}, target, stale, 3));
    assertEquals(0, WarmUp.nextOperation(new int[] {7, 7, 12}, target, stale, 3), "the first of equals");
    // Done (calls reached and time settled) is skipped even with fewer calls; not settled is not done.
    assertEquals(2, WarmUp.nextOperation(new int[] {150, 100, 120}, target, new int[] {WarmUp.STABLE_WINDOWS, WarmUp.STABLE_WINDOWS, 0}, 3));
    assertEquals(-1, WarmUp.nextOperation(new int[] {100, 300, 101}, target, stale, 3), "all done");
  }

  @Test
  void withAnArenaTheNativeOperationsGetMoreTurns() {
    // Three float[] operations, then three native ones: run turn by turn, the native ones get ARRAY_WEIGHT times
    // the calls of the array ones, and every operation still gets its turns (none is starved).
    int[] calls = new int[6], target = new int[6], stale = new int[6];
    java.util.Arrays.fill(target, Integer.MAX_VALUE);
    for (int turn = 0; turn < 6000; turn++) calls[WarmUp.nextOperation(calls, target, stale, 3)]++;
    for (int o = 0; o < 3; o++) {
      assertTrue(Math.abs(calls[o] * WarmUp.ARRAY_WEIGHT - calls[3 + o]) <= WarmUp.ARRAY_WEIGHT, java.util.Arrays.toString(calls));
      assertTrue(calls[o] > 6000 / (2 * (3 * WarmUp.ARRAY_WEIGHT + 3)), java.util.Arrays.toString(calls));
    }
    // Without native operations (nativeFrom = the count) no weight: equal calls.
    int[] three = new int[3];
    for (int turn = 0; turn < 300; turn++) three[WarmUp.nextOperation(three, new int[] {1000, 1000, 1000}, new int[3], 3)]++;
    assertArrayEquals(new int[] {100, 100, 100}, three);
  }

  @Test
  void branchCallsKeepTheirShareOfTheCallsWhateverTheyCost() {
    // Rounds of 19 branch calls (the segment warm-up's) against operation calls: always within one round of
    // 1/BRANCH_SHARE of them, so that the profiles hold the branch paths whenever C2 compiles; the time a
    // round took (up to the whole budget when interpreted) plays no part.
    long branchCalls = 0;
    for (long opCalls = 0; opCalls <= 100_000; opCalls++) {
      if (WarmUp.branchTurn(opCalls, branchCalls)) branchCalls += 19;
      assertTrue(branchCalls * WarmUp.BRANCH_SHARE >= opCalls - 19 * WarmUp.BRANCH_SHARE
          && branchCalls * WarmUp.BRANCH_SHARE <= opCalls + 19 * WarmUp.BRANCH_SHARE, opCalls + " operation calls, " + branchCalls + " branch calls");
    }
    assertTrue(WarmUp.BRANCH_FROM_CALLS > 0 && WarmUp.BRANCH_FROM_CALLS < WarmUp.MIN_CALLS, "start " + WarmUp.BRANCH_FROM_CALLS);
  }

  /** HotSpot's compile queue and code cache; skips the test on other VMs and fails when HotSpot's are not readable. */
  private static WarmUp.JitQueue hotSpotQueue() {
    String vm = System.getProperty("java.vm.name", "");
    assumeTrue(vm.contains("HotSpot") || vm.contains("OpenJDK"), "not HotSpot: " + vm);
    WarmUp.JitQueue q = WarmUp.JitQueue.open();
    assertTrue(q.available(), "DiagnosticCommand MBean not readable");
    return q;
  }

  @Test
  void readsHotSpotsCompileQueue() {
    // The warm-up's end condition: on HotSpot the queue must be readable, or every warm-up falls back to quiet time.
    WarmUp.JitQueue q = hotSpotQueue();
    String text = q.text();
    assertTrue(text != null && text.contains("C2 compile queue"), "unexpected compilerQueue output: " + text);
  }

  @Test
  void listsTheEntryPointsInHotSpotsCodeCache() {
    // The end condition looks for the entry points' C2 code by name: a renamed or re-typed BatchNorm method
    // must fail here, not leave every warm-up running to its budget.
    WarmUp.JitQueue q = hotSpotQueue();
    NormShape s = NormShape.channelsFirst(2, 3, 5);
    float[] x = new float[30], y = new float[30], dx = new float[30], c3 = new float[3], m = new float[3], v = new float[3], is = new float[3];
    java.lang.foreign.MemorySegment xs = Arena.ofAuto().allocate(120), ys = Arena.ofAuto().allocate(120);
    java.util.Arrays.fill(v, 1f);
    for (int i = 0; i < 30; i++) x[i] = i % 7;
    String[] all = new String[6];
    System.arraycopy(WarmUp.ARRAY_ENTRIES, 0, all, 0, 3);
    System.arraycopy(WarmUp.SEGMENT_ENTRIES, 0, all, 3, 3);
    // Calls until every entry point has compiled code of some tier (C1 after ~200 calls, later when the
    // compile queue is long), for at most 20 s.
    String list = q.codelist();
    for (long end = System.nanoTime() + 20_000_000_000L; System.nanoTime() < end && !allListed(list, all); list = q.codelist()) {
      for (int i = 0; i < 500; i++) {
        BatchNorm.forwardTraining(s, x, 0, null, null, 1e-3f, y, 0, m, v, is);
        BatchNorm.forwardInference(s, x, 0, null, null, m, v, 1e-3f, y, 0);
        BatchNorm.backward(s, x, 0, y, 0, null, m, is, dx, 0, c3, c3.clone());
        BatchNorm.forwardTraining(s, xs, 0, null, null, 1e-3f, ys, 0, m, v, is);
        BatchNorm.forwardInference(s, xs, 0, null, null, m, v, 1e-3f, ys, 0);
        BatchNorm.backward(s, xs, 0, ys, 0, null, m, is, ys, 0, c3, c3.clone());
      }
    }
    assertTrue(list != null && list.contains("dev.vecnorm."), "Compiler.codelist output lacks vecnorm methods");
    for (String entry : all) assertTrue(list.contains(entry), "no code of " + entry + " in Compiler.codelist");
    // Only in-use tier-4 lines count (a line: id tier state name(descriptor) [addresses]).
    boolean[] tier4 = WarmUp.JitQueue.compiledIn(list, all);
    for (int i = 0; i < all.length; i++) {
      java.util.regex.Pattern c2 = java.util.regex.Pattern.compile("(?m)^\\s*\\d+ 4 0 " + java.util.regex.Pattern.quote(all[i]));
      assertEquals(c2.matcher(list).find(), tier4[i], all[i]);
    }
    String fake = "12 3 0 " + all[0] + "I)V [0x1, 0x2 - 0x3]\n13 4 1 " + all[1] + "I)V [0x1, 0x2 - 0x3]\n14 4 0 " + all[2] + "I)V [0x1]\n";
    assertArrayEquals(new boolean[] {false, false, true}, WarmUp.JitQueue.compiledIn(fake, new String[] {all[0], all[1], all[2]}));
  }

  private static boolean allListed(String list, String[] entries) {
    if (list == null) return false;
    for (String e : entries) if (!list.contains(e)) return false;
    return true;
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

  /** Training forward then backward on fixed random data, with and without gamma and beta, and inference without; every output. */
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
    // Without gamma, beta, dGamma and dBeta (Keras scale=False, center=False): the warm-up now runs these
    // paths too, on its own buffers, and must leave a caller's results as they were.
    float[] y0 = new float[n], dx0 = new float[n], mean0 = new float[c], variance0 = new float[c], invStd0 = new float[c];
    BatchNorm.forwardTraining(s, x, 0, null, null, 1e-3f, y0, 0, mean0, variance0, invStd0);
    BatchNorm.backward(s, x, 0, dy, 0, null, mean0, invStd0, dx0, 0, null, null);
    float[] yInf = new float[n];
    BatchNorm.forwardInference(s, x, 0, null, null, mean0, variance0, 1e-3f, yInf, 0);
    return new float[][] {y, mean, variance, invStd, dx, dGamma, dBeta, y0, mean0, variance0, invStd0, dx0, yInf};
  }
}
