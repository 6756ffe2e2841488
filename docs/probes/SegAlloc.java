import dev.vecnorm.*;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * FwAlloc and BwAlloc on native segments: LayerNorm.forward, RmsNorm.forward and LayerNorm.backward over
 * {@code MemorySegment}s from {@code Arena.ofShared()}, each shape in turn (as many warm-up calls as timed ones, 2 M
 * floats' worth, at least 50), ns a row and bytes allocated a call, for -Dpasses=N passes over the shapes (default 2).
 * args: ROWSxFEATURES... (thirty-second session; default package).
 */
public class SegAlloc {
  public static void main(String[] a) {
    com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    try (Arena arena = Arena.ofShared()) {
      for (int pass = 0; pass < Integer.getInteger("passes", 2); pass++)
      for (String shape : a) {
        String[] p = shape.split("x");
        int rows = Integer.parseInt(p[0]), f = Integer.parseInt(p[1]), n = rows * f;
        MemorySegment x = arena.allocate(4L * n, 64), y = arena.allocate(4L * n, 64), dy = arena.allocate(4L * n, 64), dx = arena.allocate(4L * n, 64);
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < n; i++) {
          x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
          dy.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        }
        float[] g = new float[f], b = new float[f], m = new float[rows], is = new float[rows], dg = new float[f], db = new float[f];
        java.util.Arrays.fill(g, 1f);
        int calls = Math.max(50, 2_000_000 / n);
        long[] t = new long[6], bytes = new long[6];
        for (int op = 0; op < 3; op++) {
          for (int timed = 0; timed < 2; timed++) {
            long b0 = mx.getCurrentThreadAllocatedBytes(), t0 = System.nanoTime();
            for (int k = 0; k < calls; k++) {
              if (op == 0) LayerNorm.forward(rows, f, x, 0, g, b, 1e-3f, y, 0, m, is);
              else if (op == 1) RmsNorm.forward(rows, f, x, 0, g, 1e-3f, y, 0, is);
              else LayerNorm.backward(rows, f, x, 0, dy, 0, g, m, is, dx, 0, dg, db);
            }
            t[2 * op + timed] = System.nanoTime() - t0;
            bytes[2 * op + timed] = mx.getCurrentThreadAllocatedBytes() - b0;
          }
          if (op == 1) LayerNorm.forward(rows, f, x, 0, g, b, 1e-3f, y, 0, m, is); // the backward's mean and invStd
        }
        System.out.printf("pass %d %s fwd %.1f ns/row %d B/call | rms %.1f ns/row %d B/call | bwd %.1f ns/row %d B/call%n", pass, shape,
            t[1] / (double) calls / rows, bytes[1] / calls, t[3] / (double) calls / rows, bytes[3] / calls, t[5] / (double) calls / rows,
            bytes[5] / calls);
      }
    }
  }
}
