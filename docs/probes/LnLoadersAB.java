import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Two builds of the layer norm kernels in one JVM, each through a class loader of its own, alternating call by call
 * batch (order swapped each round): the rows-apart forward, RMS forward and the backward (with dGamma, dBeta), ns a
 * row, medians of 21 rounds and the median per-round ratio B / A. Bits compared between the builds.
 * args: CLASSES_A CLASSES_B ROWSxFEATURES... (thirty-first session). With -Ddispatch=true the forwards are the kernel's
 * {@code forward} and {@code rmsForward}, which pick the rows-apart or the pipelined loop by shape (thirty-second session).
 */
public class LnLoadersAB {
  static final class Build {
    final MethodHandle fwd, rms, bwd;
    final Object kernel;
    Build(String dir) throws Exception {
      ClassLoader l = new URLClassLoader(new URL[] {Path.of(dir).toUri().toURL()}, ClassLoader.getPlatformClassLoader());
      Class<?> c = Class.forName("dev.vecnorm.internal.PanamaLayerNormSupport", true, l);
      MethodHandles.Lookup lk = MethodHandles.lookup();
      boolean dispatch = Boolean.getBoolean("dispatch");
      Method f = c.getDeclaredMethod(dispatch ? "forward" : "forwardRowsApart", float[].class, int.class, float[].class, int.class, int.class, int.class,
          float[].class, float[].class, float.class, float[].class, float[].class, int.class);
      Method r = c.getDeclaredMethod(dispatch ? "rmsForward" : "rmsForwardRowsApart", float[].class, int.class, float[].class, int.class, int.class, int.class,
          float[].class, float.class, float[].class, int.class);
      Method b = c.getDeclaredMethod("backward", float[].class, int.class, float[].class, int.class, float[].class, int.class, int.class,
          int.class, float[].class, float[].class, float[].class, int.class, float[].class, float[].class);
      f.setAccessible(true);
      r.setAccessible(true);
      b.setAccessible(true);
      var ctor = c.getDeclaredConstructor();
      ctor.setAccessible(true);
      kernel = ctor.newInstance();
      fwd = dispatch ? lk.unreflect(f).bindTo(kernel) : lk.unreflect(f);
      rms = dispatch ? lk.unreflect(r).bindTo(kernel) : lk.unreflect(r);
      bwd = lk.unreflect(b).bindTo(kernel);
    }
  }

  public static void main(String[] a) throws Throwable {
    Build[] builds = {new Build(a[0]), new Build(a[1])};
    for (int q = 2; q < a.length; q++) {
      String[] p = a[q].split("x");
      int rows = Integer.parseInt(p[0]), f = Integer.parseInt(p[1]);
      java.util.Random rnd = new java.util.Random(1);
      float[] x = new float[rows * f], dy = new float[rows * f], g = new float[f], b = new float[f];
      for (int i = 0; i < x.length; i++) { x[i] = (float) rnd.nextGaussian(); dy[i] = (float) rnd.nextGaussian(); }
      for (int i = 0; i < f; i++) { g[i] = 1f + 0.01f * i; b[i] = 0.1f * i; }
      float[][] y = new float[2][rows * f], dx = new float[2][rows * f], m = new float[2][rows], s = new float[2][rows];
      float[][] dg = new float[2][f], db = new float[2][f];
      int calls = Math.max(20, 2_000_000 / (rows * f));
      double[][][] t = new double[3][2][21];
      for (int round = -6; round < 21; round++) {
        for (int o = 0; o < 2; o++) {
          int w = (round & 1) == 0 ? o : 1 - o;
          Build bd = builds[w];
          long t0 = System.nanoTime();
          for (int k = 0; k < calls; k++) bd.fwd.invoke(x, 0, y[w], 0, rows, f, g, b, 1e-3f, m[w], s[w], 0);
          long t1 = System.nanoTime();
          for (int k = 0; k < calls; k++) bd.rms.invoke(x, 0, y[w], 0, rows, f, g, 1e-3f, s[w], 0);
          long t2 = System.nanoTime();
          bd.fwd.invoke(x, 0, y[w], 0, rows, f, g, b, 1e-3f, m[w], s[w], 0);
          Arrays.fill(dg[w], 0f);
          Arrays.fill(db[w], 0f);
          long t3 = System.nanoTime();
          for (int k = 0; k < calls; k++) bd.bwd.invoke(x, 0, dy, 0, dx[w], 0, rows, f, g, m[w], s[w], 0, dg[w], db[w]);
          long t4 = System.nanoTime();
          if (round >= 0) {
            t[0][w][round] = (t1 - t0) / (double) calls / rows;
            t[1][w][round] = (t2 - t1) / (double) calls / rows;
            t[2][w][round] = (t4 - t3) / (double) calls / rows;
          }
        }
      }
      for (int i = 0; i < dx[0].length && System.getProperty("dbg") != null; i++) if (dx[0][i] != dx[1][i]) { System.out.println("dx[" + i + "] " + dx[0][i] + " " + dx[1][i]); break; }
      String diff = (Arrays.equals(y[0], y[1]) ? "" : " y") + (Arrays.equals(dx[0], dx[1]) ? "" : " dx") + (Arrays.equals(dg[0], dg[1]) ? "" : " dGamma")
          + (Arrays.equals(db[0], db[1]) ? "" : " dBeta") + (Arrays.equals(m[0], m[1]) ? "" : " mean") + (Arrays.equals(s[0], s[1]) ? "" : " invStd");
      StringBuilder out = new StringBuilder(a[q]);
      String[] names = {"ln", "rms", "ln-bwd"};
      for (int op = 0; op < 3; op++) {
        double[] ratio = new double[21];
        for (int i = 0; i < 21; i++) ratio[i] = t[op][1][i] / t[op][0][i];
        Arrays.sort(ratio);
        Arrays.sort(t[op][0]);
        Arrays.sort(t[op][1]);
        out.append(String.format("  %s A %.1f B %.1f B/A %.3f", names[op], t[op][0][10], t[op][1][10], ratio[10]));
      }
      System.out.println(out + (diff.isEmpty() ? "" : "  BITS DIFFER:" + diff));
    }
  }
}
