package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Batch norm on native segments over thirteen suite and outside shapes in one JVM, then each channels-last training
 * forward's bytes a call. The native statistics passed a slice of each step's four rows to a helper; after this mix C2
 * did not scalar-replace the slice, 40 B a step (82 KB a call at NC 8192x256, every call, also after 80 rounds;
 * twenty-fourth session). With the slice made in the step loop itself, the reverse order still allocated it (C2 did
 * not inline the JDK's asSlice chain, "low call site frequency"); the step now reads at absolute offsets
 * (twenty-fifth session). Smaller mixes, and {@link KernelMixAllocationTest}'s, did not show it. Fresh JVMs
 * ({@link ChildJvm}); about half a minute each.
 */
class SegmentMixAllocationTest {
  static final String[] SHAPES = {"NC:256x1024", "NHWC:32x196x256", "NC:8192x256", "NCHW:32x256x196", "NHWC:7x169x17", "NCHW:7x17x169",
      "NC:1000x100", "NHWC:32x49x2048", "NCHW:32x2048x49", "NHWC:8x3136x64", "NC:2000x1000", "NCHW:8x3x50176", "NC:300x4097"};

  /**
   * Every shape's three operations in rounds, the tensors of all shapes live (heap and native), then bytes per shape. Runs
   * alone too: {@code mvn test-compile}, then {@code java --add-modules jdk.incubator.vector -Xms2g -Xmx2g -Dmix.all=true
   * [-Dmix.shapes=...] -cp target/classes:target/test-classes 'dev.vecnorm.SegmentMixAllocationTest$Probe'}.
   */
  public static final class Probe {
    public static void main(String[] unused) {
    // -Dmix.shapes=A,B,... runs another mix (the tests: SHAPES and its reverse); -Dmix.all=true reports every shape and operation.
    String[] args = System.getProperty("mix.shapes", String.join(",", SHAPES)).split(",");
    boolean all = Boolean.getBoolean("mix.all");
    int rounds = 25, reps = 10;
    com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    List<NormShape> shapes = new ArrayList<>();
    for (String a : args) { // NC:RxC NHWC:NxSxC NCHW:NxCxS
      String[] p = a.split(":"); String[] d = p[1].split("x");
      if (p[0].equals("NC")) shapes.add(NormShape.channelsLast(Integer.parseInt(d[0]), Integer.parseInt(d[1])));
      else if (p[0].equals("NHWC")) shapes.add(NormShape.channelsLast(Integer.parseInt(d[0]) * Integer.parseInt(d[1]), Integer.parseInt(d[2])));
      else shapes.add(NormShape.channelsFirst(Integer.parseInt(d[0]), Integer.parseInt(d[1]), Integer.parseInt(d[2])));
    }
    boolean seg = true;
    java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofAuto();
    int S = shapes.size();
    Object[][] bufs = new Object[S][];
    for (int k = 0; k < S; k++) {
      NormShape s = shapes.get(k); int n = (int) s.size(), c = s.channels();
      float[] x = new float[n], dy = new float[n];
      Random r = new Random(k); for (int i = 0; i < n; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
      float[] g = new float[c]; Arrays.fill(g, 1.5f);
      java.lang.foreign.MemorySegment xs = arena.allocate(4L * n, 64), ys = arena.allocate(4L * n, 64), dys = arena.allocate(4L * n, 64), dxs = arena.allocate(4L * n, 64);
      java.lang.foreign.MemorySegment.copy(x, 0, xs, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, n);
      java.lang.foreign.MemorySegment.copy(dy, 0, dys, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, n);
      bufs[k] = new Object[] {x, dy, new float[n], new float[n], g, new float[c], new float[c], new float[c], new float[c], new float[c], new float[c], xs, ys, dys, dxs};
    }
    String[] ops = {"train", "infer", "bwd"};
    for (int round = 0; round < rounds; round++)
      for (int k = 0; k < S; k++) for (String op : ops) for (int i = 0; i < reps; i++) call(op, seg, shapes.get(k), bufs[k]);
    for (int k = 0; k < S; k++) for (String op : ops) {
      long best = Long.MAX_VALUE;
      for (int w = 0; w < 3; w++) {
        long b0 = mx.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < 20; i++) call(op, seg, shapes.get(k), bufs[k]);
        best = Math.min(best, (mx.getCurrentThreadAllocatedBytes() - b0) / 20);
      }
      if (all) System.out.println(op + " " + args[k] + "\t" + best);
      else if (op.equals("train") && shapes.get(k).inner() == 1) System.out.println(args[k] + "\t" + best);
    }
  }
    static void call(String op, boolean seg, NormShape s, Object[] b) {
    float[] x = (float[]) b[0], dy = (float[]) b[1], y = (float[]) b[2], dx = (float[]) b[3], g = (float[]) b[4], be = (float[]) b[5], m = (float[]) b[6], v = (float[]) b[7], is = (float[]) b[8], dg = (float[]) b[9], db = (float[]) b[10];
    java.lang.foreign.MemorySegment xs = (java.lang.foreign.MemorySegment) b[11], ys = (java.lang.foreign.MemorySegment) b[12], dys = (java.lang.foreign.MemorySegment) b[13], dxs = (java.lang.foreign.MemorySegment) b[14];
    if (!seg) {
      if (op.equals("train")) BatchNorm.forwardTraining(s, x, 0, g, be, 1e-3f, y, 0, m, v, is);
      else if (op.equals("infer")) BatchNorm.forwardInference(s, x, 0, g, be, m, v, 1e-3f, y, 0);
      else BatchNorm.backward(s, x, 0, dy, 0, g, m, is, dx, 0, dg, db);
    } else {
      if (op.equals("train")) BatchNorm.forwardTraining(s, xs, 0, g, be, 1e-3f, ys, 0, m, v, is);
      else if (op.equals("infer")) BatchNorm.forwardInference(s, xs, 0, g, be, m, v, 1e-3f, ys, 0);
      else BatchNorm.backward(s, xs, 0, dys, 0, g, m, is, dxs, 0, dg, db);
    }
  }
  }

  @Test
  void channelsLastTrainingForwardsAfterTheMixAllocateNothing() throws Exception {
    assertNothingAllocatedAfter(SHAPES);
  }

  /** The same shapes the other way round: the order in which the slice made in the step loop was still allocated. */
  @Test
  void channelsLastTrainingForwardsAfterTheReversedMixAllocateNothing() throws Exception {
    List<String> reversed = new ArrayList<>(Arrays.asList(SHAPES));
    java.util.Collections.reverse(reversed);
    assertNothingAllocatedAfter(reversed.toArray(String[]::new));
  }

  private static void assertNothingAllocatedAfter(String[] order) throws Exception {
    String out = ChildJvm.run(Probe.class, 300, "--add-modules", "jdk.incubator.vector", "-Xms2g", "-Xmx2g",
        "-Dmix.shapes=" + String.join(",", order)).stdout();
    List<String> allocating = new ArrayList<>();
    java.util.Map<String, Long> counts = ChildJvm.byteCounts(out);
    int count = counts.size();
    // Bytes a call, the best of three windows of 20 calls; 40 B a step of four rows is 2,560 B+ a call here.
    counts.forEach((shape, bytes) -> {
      if (bytes >= 16) allocating.add(shape + ": " + bytes + " B a call");
    });
    assertTrue(count == 9, "the child reported " + count + " shapes:\n" + out);
    assertTrue(allocating.isEmpty(), "native training forwards allocating after the mix:\n" + String.join("\n", allocating));
  }
}
