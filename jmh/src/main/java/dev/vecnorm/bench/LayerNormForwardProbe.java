package dev.vecnorm.bench;

import java.io.File;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * {@code LayerNorm.forward} (training: mean and invStd written) of two library builds in one JVM, paired on the same
 * arrays ({@link LayerNormBackwardProbe}'s pattern: a class loader a jar, rounds alternating A B / B A), with y placed
 * at chosen byte distances from x modulo 4 KiB: y is one {@code float[]} with 1024 floats of slack, sliced by
 * {@code yOffset}, so only y's start moves (x, gamma and beta stay). Per placement: each side's median µs a call and
 * the median of the per-round ratios B/A (quartiles in brackets).
 *
 * <p>Arguments: {@code A.jar B.jar ROWS FEATURES}; properties {@code -Dplacements=0,64,...} (y's element 0 that many
 * bytes past x's mod 4096; multiples of 4), {@code -Dbase=P} (side A keeps y at P throughout: with the same jar on both
 * sides, B/A is each placement's time against P's, paired), {@code -Dreps=11}, {@code -Dcalls=10}, {@code -Dinplace=true}
 * (y = x, placements ignored).
 * <pre>java --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Xms2g -Xmx2g \
 *   -cp jmh/target/benchmarks.jar dev.vecnorm.bench.LayerNormForwardProbe /tmp/lead/main-s16.jar target/vecnorm-0.1.0-SNAPSHOT.jar 2048 768</pre>
 * (a shaded benchmarks.jar serves as a library jar too: it holds the library's classes). Properties go before the class name.
 *
 * <p>What it showed (sixteenth session, engineer ln16; AMD EPYC; main's fused forward on both sides, {@code -Dbase=2048}):
 * y 64-192 bytes past x mod 4 KiB took 1.08-1.27x the time of y 2 KiB past x at 1024x1000 and 2048x768 (the loads of
 * row r's second vector running into the first's just-issued store), y at x (where G1 puts two large arrays, and in
 * place) 1.09x at 1024x1000 (row r + 1's load at f against row r's store 96 bytes back) and 1.00x at 2048x768;
 * 384-4032 bytes 0.98-1.04x. So 4K aliasing costs the fused loop up to ~10% at the usual placement, not the 20-30% gap
 * to oneDNN. Main against a build that wrote row r from its end (the distance sweeps): B/A 1.04-1.20 at most
 * placements of all four shapes, 0.85-0.94 only where main aliased. Main against the sum-then-write forward (four
 * pairs of sum accumulators), y at x: 1024x1000 0.86, 2048x768 0.95, 4096x256 0.87, 512x4096 1.01.
 */
public final class LayerNormForwardProbe {
  private LayerNormForwardProbe() {}

  public static void main(String[] args) throws Throwable {
    int rows = Integer.parseInt(args[2]), features = Integer.parseInt(args[3]);
    int reps = Integer.getInteger("reps", 11), calls = Integer.getInteger("calls", 10);
    boolean inplace = Boolean.getBoolean("inplace");
    int[] placements = Arrays.stream(System.getProperty("placements", "0,64,128,256,512,1024,2048,3072,3968,4032").split(","))
        .mapToInt(Integer::parseInt).toArray();
    MethodHandle[] forward = new MethodHandle[2];
    MethodType ft = MethodType.methodType(void.class, int.class, int.class, float[].class, int.class, float[].class, float[].class,
        float.class, float[].class, int.class, float[].class, float[].class);
    for (int i = 0; i < 2; i++) {
      URLClassLoader loader = new URLClassLoader(new URL[] {new File(args[i]).toURI().toURL()}, ClassLoader.getPlatformClassLoader());
      Class<?> ln = Class.forName("dev.vecnorm.LayerNorm", true, loader);
      forward[i] = MethodHandles.publicLookup().findStatic(ln, "forward", ft);
    }
    SplittableRandom rnd = new SplittableRandom(7);
    int n = rows * features;
    float[] x = new float[n], y = new float[n + 1024], x0 = new float[n];
    for (int i = 0; i < n; i++) x0[i] = 1e4f + 0.01f * (float) rnd.nextGaussian();
    System.arraycopy(x0, 0, x, 0, n);
    float[] gamma = new float[features], beta = new float[features], mean = new float[rows], invStd = new float[rows];
    for (int i = 0; i < features; i++) {
      gamma[i] = 1 + 0.1f * (float) rnd.nextGaussian();
      beta[i] = 0.1f * (float) rnd.nextGaussian();
    }
    // The same bits from both jars, each into its own outputs (out of place, then in place).
    float[][] out = new float[2][n], m = new float[2][rows], s = new float[2][rows];
    for (int i = 0; i < 2; i++) forward[i].invokeExact(rows, features, x, 0, gamma, beta, 1e-5f, out[i], 0, m[i], s[i]);
    boolean same = Arrays.equals(out[0], out[1]) && Arrays.equals(m[0], m[1]) && Arrays.equals(s[0], s[1]);
    float[][] in = {x0.clone(), x0.clone()};
    for (int i = 0; i < 2; i++) forward[i].invokeExact(rows, features, in[i], 0, gamma, beta, 1e-5f, in[i], 0, m[i], s[i]);
    same &= Arrays.equals(in[0], in[1]) && Arrays.equals(in[0], out[0]);
    int xl = Addresses.line(x), yl = Addresses.line(y);
    System.out.printf(Locale.ROOT, "%dx%d, same bits (and in place): %s, x at %d mod 4096, y at %d, gamma at %d, beta at %d, %s%n",
        rows, features, same, xl, yl, Addresses.line(gamma), Addresses.line(beta), Addresses.describe());
    for (int w = 0; w < 300; w++) {
      for (int i = 0; i < 2; i++) forward[i].invokeExact(rows, features, x, 0, gamma, beta, 1e-5f, y, 0, mean, invStd);
    }
    Integer base = Integer.getInteger("base");
    int baseOff = base == null ? 0 : Math.floorMod(xl + base - yl, 4096) / 4;
    for (int place : placements) {
      int off = Math.floorMod(xl + place - yl, 4096) / 4;
      float[] yy = inplace ? x : y;
      double[][] t = new double[2][reps];
      double[] ratio = new double[reps];
      for (int r = 0; r < reps; r++) {
        for (int k = 0; k < 2; k++) {
          int i = (r & 1) == 0 ? k : 1 - k;
          int o = inplace ? 0 : i == 0 && base != null ? baseOff : off;
          long t0 = System.nanoTime();
          for (int c = 0; c < calls; c++) forward[i].invokeExact(rows, features, x, 0, gamma, beta, 1e-5f, yy, o, mean, invStd);
          t[i][r] = (System.nanoTime() - t0) / 1e3 / calls;
        }
        ratio[r] = t[1][r] / t[0][r];
      }
      Arrays.sort(t[0]);
      Arrays.sort(t[1]);
      Arrays.sort(ratio);
      System.out.printf(Locale.ROOT, "  y %4d B past x mod 4096: A %8.1f µs, B %8.1f µs, B/A %.3f [%.3f %.3f]%n",
          inplace ? 0 : place, t[0][reps / 2], t[1][reps / 2], ratio[reps / 2], ratio[reps / 4], ratio[3 * reps / 4]);
      if (inplace) System.arraycopy(x0, 0, x, 0, n);
      if (inplace) break;
    }
  }
}
