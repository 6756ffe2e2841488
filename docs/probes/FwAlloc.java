import dev.vecnorm.*;
/**
 * LayerNorm.forward and RmsNorm.forward on each shape in turn (as many warm-up calls as timed ones, 2 M floats' worth, at least 50), ns a
 * row and bytes allocated a call (ThreadMXBean), for -Dpasses=N passes over the shapes (default 2): what the JIT's
 * compilations in between cost. args: ROWSxFEATURES... in the peers' order, e.g. 64x17 16x33 4096x17 16384x32 8192x64
 * 4096x24 2048x31 1024x100 4096x127 (thirty-second session, BwAlloc for the forwards; default package).
 */
public class FwAlloc {
  public static void main(String[] a) {
    com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    for (int pass = 0; pass < Integer.getInteger("passes", 2); pass++)
    for (String shape : a) {
      String[] p = shape.split("x");
      int rows = Integer.parseInt(p[0]), f = Integer.parseInt(p[1]);
      float[] x = new float[rows * f], y = new float[rows * f], dy = new float[rows * f], dx = new float[rows * f];
      java.util.Random r = new java.util.Random(1);
      for (int i = 0; i < x.length; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
      float[] g = new float[f], b = new float[f], m = new float[rows], is = new float[rows], dg = new float[f], db = new float[f];
      java.util.Arrays.fill(g, 1f);
      int calls = Math.max(50, 2_000_000 / (rows * f));
      for (int k = 0; k < calls; k++) LayerNorm.forward(rows, f, x, 0, g, b, 1e-3f, y, 0, m, is);
      long b0 = mx.getCurrentThreadAllocatedBytes(), t0 = System.nanoTime();
      for (int k = 0; k < calls; k++) LayerNorm.forward(rows, f, x, 0, g, b, 1e-3f, y, 0, m, is);
      long t1 = System.nanoTime(), b1 = mx.getCurrentThreadAllocatedBytes();
      for (int k = 0; k < calls; k++) RmsNorm.forward(rows, f, x, 0, g, 1e-3f, y, 0, is);
      long b2 = mx.getCurrentThreadAllocatedBytes(), t2 = System.nanoTime();
      for (int k = 0; k < calls; k++) RmsNorm.forward(rows, f, x, 0, g, 1e-3f, y, 0, is);
      long t3 = System.nanoTime(), b3 = mx.getCurrentThreadAllocatedBytes();
      System.out.printf("pass %d %s fwd %.1f ns/row, %d B/call rms %.1f ns/row, %d B/call%n", pass, shape, (t1 - t0) / (double) calls / rows,
          (b1 - b0) / calls, (t3 - t2) / (double) calls / rows, (b3 - b2) / calls);
    }
  }
}
