package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One native-segment call, alone in a fresh JVM, then its bytes a call: what a user program that calls one kernel sees.
 * Whether C2 scalar-replaces a {@code MemorySegment} slice made in a kernel loop depends on the JDK's asSlice chain being
 * inlined, which asSlice's own profile decides, and in a JVM that runs nothing else it often was not (twenty-fifth
 * session, jmh's PlainCallProbe): batch norm NCHW 8x3x50176 inference allocated a slice pair per plane in 6 of 6 such
 * JVMs (1920 B a call), its training forward 2249 B in 4 of 4, group norm NCHW 64x64x3136 forward 82-491 KB in 4 of 4.
 * Those loops now read at absolute offsets. NHWC 64x56x56x64 backward boxed a default vector once a call (120 B, 4 of
 * 4), now loaded where it is used. Layer norm forward over 512 rows of 4096 features allocated its three row slices
 * (62040 B a call) in 12 of 13 plain JVMs (twenty-sixth session); rows that wide now read at absolute offsets
 * (PanamaNativeLayerNorm.WIDE). Batch norm's NCHW 8x3x50176 backward allocated five slices a plane (4800 B a call) in
 * every plain JVM tried (twenty-seventh session); planes longer than 4096 floats now read at absolute offsets
 * (PanamaNativeBackward.WIDE_PLANE), and so do group norm's NCHW backward planes that long (1x32x50176 allocated 6400 B a
 * call in 2 of 3 such JVMs, 3840 B in the third), and the channels-last backward reduce's super rows of 2048 floats and
 * more (NC 128x4096: 2560 B a call in 2 of 2; PanamaNativeBackward.WIDE_ROW). The longer test runs
 * (SegmentMixAllocationTest) did not show these.
 */
class FreshJvmNativeAllocationTest {

  /**
   * {@code -Dcall=bn-infer|bn-train|bn-backward|gn-forward|gn-backward|bnl-backward|bnc-backward|ln-forward}: 300 calls, then bytes a call over 100 more
   * ({@code call<TAB>bytes}).
   */
  public static final class Probe {
    public static void main(String[] unused) {
      String call = System.getProperty("call");
      Arena arena = Arena.ofShared();
      boolean gn = call.startsWith("gn"), nhwc = call.startsWith("bnl"), ln = call.startsWith("ln"), gnb = call.equals("gn-backward");
      boolean nc = call.startsWith("bnc"); // NC 128x4096: super rows of 4096 floats
      int batch = gnb ? 1 : gn || nhwc ? 64 : ln || nc ? 1 : 8, channels = gnb ? 32 : gn || nhwc ? 64 : ln ? 512 : nc ? 4096 : 3;
      int spatial = gn && !gnb || nhwc ? 3136 : ln ? 4096 : nc ? 128 : 50176; // layer norm: 512 rows of 4096 features
      long n = (long) batch * channels * spatial;
      MemorySegment x = arena.allocate(4 * n, 64), y = arena.allocate(4 * n, 64);
      Random r = new Random(7);
      for (long i = 0; i < n; i++) {
        x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        y.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian()); // dy for the backward
      }
      float[] g = new float[channels], b = new float[channels];
      Arrays.fill(g, 1.5f);
      Runnable run;
      if (ln) {
        float[] m = new float[channels], is = new float[channels], lg = new float[spatial], lb = new float[spatial];
        Arrays.fill(lg, 1.5f);
        run = () -> LayerNorm.forward(channels, spatial, x, 0, lg, lb, 1e-3f, y, 0, m, is);
      } else if (nhwc || nc) { // NHWC 64x56x56x64 or NC 128x4096 backward: dy in y, dx in a third segment
        NormShape s = NormShape.channelsLast(batch * spatial, channels);
        MemorySegment dx = arena.allocate(4 * n, 64);
        float[] m = new float[channels], is = new float[channels], dg = new float[channels], db = new float[channels];
        Arrays.fill(is, 1f);
        run = () -> BatchNorm.backward(s, x, 0, y, 0, g, m, is, dx, 0, dg, db);
      } else if (gn) {
        GroupShape s = GroupShape.nchw(batch, channels, spatial, 32);
        float[] m = new float[s.statistics()], is = new float[s.statistics()];
        if (gnb) { // NCHW 1x32x50176, 32 groups: dy in y, dx in a third segment
          MemorySegment dx = arena.allocate(4 * n, 64);
          float[] dg = new float[channels], db = new float[channels];
          GroupNorm.forward(s, x, 0, g, b, 1e-3f, dx, 0, m, is);
          run = () -> GroupNorm.backward(s, x, 0, y, 0, g, m, is, dx, 0, dg, db);
        } else {
          run = () -> GroupNorm.forward(s, x, 0, g, b, 1e-3f, y, 0, m, is);
        }
      } else {
        NormShape s = NormShape.channelsFirst(batch, channels, spatial);
        float[] m = new float[channels], v = new float[channels], is = new float[channels];
        Arrays.fill(v, 1f);
        if (call.equals("bn-backward")) { // dy in y, dx in a third segment
          MemorySegment dx = arena.allocate(4 * n, 64);
          float[] dg = new float[channels], db = new float[channels];
          Arrays.fill(is, 1f);
          run = () -> BatchNorm.backward(s, x, 0, y, 0, g, m, is, dx, 0, dg, db);
        } else {
          run = call.equals("bn-infer") ? () -> BatchNorm.forwardInference(s, x, 0, g, b, m, v, 1e-3f, y, 0)
              : () -> BatchNorm.forwardTraining(s, x, 0, g, b, 1e-3f, y, 0, m, v, is);
        }
      }
      var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
      for (int i = 0; i < 300; i++) run.run();
      long b0 = mx.getCurrentThreadAllocatedBytes();
      for (int i = 0; i < 100; i++) run.run();
      System.out.println(call + "\t" + (mx.getCurrentThreadAllocatedBytes() - b0) / 100);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"bn-infer", "bn-train", "bn-backward", "gn-forward", "gn-backward", "bnl-backward", "bnc-backward", "ln-forward"})
  void oneNativeCallAloneInAJvmAllocatesNothing(String call) throws Exception {
    String out = ChildJvm.run(Probe.class, 120, "--add-modules", "jdk.incubator.vector", "-Xmx1g", "-Dcall=" + call).stdout();
    Map<String, Long> counts = ChildJvm.byteCounts(out);
    assertEquals(1, counts.size(), "the child printed:\n" + out);
    long bytes = counts.get(call);
    assertTrue(bytes < 16, call + " allocated " + bytes + " B a call (a slice is 40 B, a boxed 16-lane vector 120 B)");
  }
}
