package dev.vecnorm.bench;

import dev.vecnorm.LayerNorm;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * Stopwatch of the layer-norm forward against a vector copy of the same bytes in one JVM: per block, 5 warm
 * and 15 timed rounds, each round one call of {@link BandwidthOps#copy} (1 read + 1 write, the forward's
 * compulsory traffic) and one of each forward variant {@link LayerNorm#forward} (training: y, mean and invStd;
 * the peers harness's data and epsilon, {@link Workload}). Each block prints the medians, their ratio to the
 * copy and the bytes each call allocated; the summary is the median, lowest and highest ratio over the blocks,
 * and each variant's per-round time over variant 0's (a paired comparison: the rounds of one block see the
 * same machine).
 *
 * <p>It also prints where the data sits ({@link Addresses}: byte offsets mod 4096, mod 64 being the place in
 * a cache line) and can move it: {@code --leads 0,12} runs the tensor 0 and 12 floats into x and y (a G1
 * humongous array's data starts 16 bytes past a region, so lead 12 is 64-byte aligned), {@code --params
 * 0,16,32,48} gives gamma and beta copies whose data sits at those offsets mod {@code --modulus} (64, or 4096
 * to place them against y's rows), and {@code --l1} adds the same forward and copy on 4096 floats of rows
 * held in L1 (called rows/16.. times: the same work), which separates a slow core from slow memory. {@code --base
 * JAR} adds another jar's {@code LayerNorm.forward} (e.g. a baseline's benchmarks.jar, in a class loader of its own) as
 * the last variant, and with {@code --l1} its L1 forward too, so a candidate kernel and the baseline are timed in the
 * same rounds of one JVM (paired ratios; the calls' order rotates from round to round, see {@link #rounds}).
 *
 * <p>What it showed (ninth session, engineer lnfwd3; README, LayerNorm peers section): the forward/copy ratio at
 * 4096x256 moves between ~1.05 and ~1.7 from one JVM, and one stretch of seconds, to the next, the forward on
 * L1-resident rows slowing by the same factor (so it is the core running this instruction stream slower, not
 * memory), with no allocation, and independently of where x, y, gamma and beta sit. Read the bytes/call
 * column too: until commit d852f00 (eleventh session, engineer ln5) the first blocks of a fresh JVM, and of a
 * width following another, allocated 73-103 KB a call at 1024x1000 and ran 1.35-1.65x the copy against
 * 1.04-1.33x later, because the row-0 and two-pass-redo sums (blockSums, a few calls a call) were still C1
 * code, which runs Vector API operations as objects; a block that allocates is measuring that. Arguments: peers-style
 * labels ({@code NC:ROWSxFEATURES}), {@code --blocks N} (default 12) and the options above; run it under the
 * measurement lock:
 * <pre>flock /tmp/vecnorm-measure.lock java --sun-misc-unsafe-memory-access=allow --add-modules jdk.incubator.vector \
 *     -Xms2g -Xmx2g -XX:+AlwaysPreTouch -cp jmh/target/benchmarks.jar dev.vecnorm.bench.LayerNormCopyProbe NC:4096x256 --l1</pre>
 */
public final class LayerNormCopyProbe {
  /** Bytes this thread allocated: a vector the JIT failed to keep in registers shows up as allocation (boxing). */
  private static final com.sun.management.ThreadMXBean THREADS = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
  private LayerNormCopyProbe() {}

  /** Median µs of 15 calls after 5 warm ones. */
  static double block(Runnable call) {
    long[] t = new long[15];
    for (int i = -5; i < t.length; i++) {
      long s = System.nanoTime();
      call.run();
      long e = System.nanoTime();
      if (i >= 0) t[i] = e - s;
    }
    Arrays.sort(t);
    return t[t.length / 2] / 1e3;
  }

  /** Whether each round starts at the next call ({@code --rotate}, implied by {@code --base}); else calls run in the order given. */
  static boolean rotate;

  /**
   * 5 warm and 15 timed rounds of one call of each of {@code calls}: {@code median[i]} is call i's median µs,
   * {@code paired[v]} the median over rounds of call v + 1's time over call 1's; returns the median over rounds
   * of call {@code num}'s time over call {@code den}'s (NaN for num &lt; 0). With {@link #rotate}, round i runs the
   * calls from call i on (mod their count), so no kernel always follows the same call. Even so, the L1 pair of two
   * jars did not agree with their roles swapped (engineer ln4: the same two kernels 0.82-0.96 and 0.89-1.35 in two
   * JVMs; from memory 1.46-1.57 and 1.25-1.55): run both role orders and read the L1 ratios as ±25%.
   */
  static double rounds(Runnable[] calls, double[] median, double[] paired, long[] bytes, int num, int den) {
    long[][] t = new long[calls.length][15];
    for (int i = -5; i < 15; i++) {
      for (int k = 0; k < calls.length; k++) {
        int c = rotate ? Math.floorMod(k + i, calls.length) : k;
        long a = THREADS.getCurrentThreadAllocatedBytes();
        long s = System.nanoTime();
        calls[c].run();
        long e = System.nanoTime();
        if (i >= 0) {
          t[c][i] = e - s;
          bytes[c] += THREADS.getCurrentThreadAllocatedBytes() - a;
        }
      }
    }
    for (int v = 0; v < paired.length; v++) {
      double[] r = new double[15];
      for (int i = 0; i < 15; i++) r[i] = (double) t[v + 1][i] / t[1][i];
      Arrays.sort(r);
      paired[v] = r[7];
    }
    for (int c = 0; c < calls.length; c++) {
      long[] u = t[c].clone();
      Arrays.sort(u);
      median[c] = u[7] / 1e3;
    }
    if (num < 0) return Double.NaN;
    double[] r = new double[15];
    for (int i = 0; i < 15; i++) r[i] = (double) t[num][i] / t[den][i];
    Arrays.sort(r);
    return r[7];
  }

  public static void main(String[] args) {
    int blocks = 12;
    int[] leads = {0}, params = null;
    boolean l1 = false;
    int modulus = 64;
    String base = null;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--blocks")) blocks = Integer.parseInt(args[++i]);
      else if (args[i].equals("--leads")) leads = ints(args[++i]);
      else if (args[i].equals("--params")) params = ints(args[++i]);
      else if (args[i].equals("--l1")) l1 = true;
      else if (args[i].equals("--modulus")) modulus = Integer.parseInt(args[++i]);
      else if (args[i].equals("--base")) base = args[++i];
      else if (args[i].equals("--rotate")) rotate = true;
    }
    MethodHandle baseForward = base == null ? null : baseForward(base);
    rotate |= base != null;
    System.out.println("addresses: " + Addresses.describe());
    for (String label : args) {
      if (!label.startsWith("NC:")) continue;
      Workload w = new Workload(label);
      int rows = w.shape.outer(), features = w.shape.channels(), n = rows * features;
      float[] mean = new float[rows], invStd = new float[rows];
      // Per lead: x and y with the tensor `lead` floats in (lead 0: the Workload's own arrays; a humongous
      // array's data starts 16 bytes past a line, so lead 12 puts it on one).
      float[][] xs = new float[leads.length][], ys = new float[leads.length][];
      for (int l = 0; l < leads.length; l++) {
        xs[l] = leads[l] == 0 ? w.x : new float[leads[l] + n];
        ys[l] = leads[l] == 0 ? w.y : new float[leads[l] + n];
        if (leads[l] != 0) System.arraycopy(w.x, 0, xs[l], leads[l], n);
      }
      for (int k = 0; k < 3; k++) { // JIT warm-up, not reported (its garbage is what G1 collects: below)
        for (int l = 0; l < leads.length; l++) {
          block(forward(rows, features, xs[l], ys[l], leads[l], w.gamma, w.beta, mean, invStd));
          block(copy(xs[l], ys[l], leads[l], n));
        }
      }
      // gamma/beta: the Workload's own, or one pair per requested offset mod 64 (same values), allocated after a
      // full GC so that no later young GC moves them (the warm-up's interpreted and C1 code allocates ~300 MB).
      float[][] gammas = {w.gamma}, betas = {w.beta};
      if (params != null) {
        System.gc();
        gammas = new float[params.length][];
        betas = new float[params.length][];
        for (int k = 0; k < params.length; k++) {
          gammas[k] = Addresses.at(features, params[k], modulus);
          betas[k] = Addresses.at(features, params[k], modulus);
          System.arraycopy(w.gamma, 0, gammas[k], 0, features);
          System.arraycopy(w.beta, 0, betas[k], 0, features);
        }
      }
      int variants = leads.length * gammas.length + (baseForward == null ? 0 : 1);
      Runnable[] forwards = new Runnable[variants], copies = new Runnable[leads.length];
      String[] names = new String[variants];
      for (int l = 0; l < leads.length; l++) {
        copies[l] = copy(xs[l], ys[l], leads[l], n);
        for (int k = 0; k < gammas.length; k++) {
          int v = l * gammas.length + k;
          forwards[v] = forward(rows, features, xs[l], ys[l], leads[l], gammas[k], betas[k], mean, invStd);
          names[v] = String.format(Locale.ROOT, "x %d y %d gamma %d beta %d", line(xs[l], leads[l]), line(ys[l], leads[l]),
              Addresses.line(gammas[k]), Addresses.line(betas[k]));
        }
      }
      if (baseForward != null) { // the other jar's forward on the first lead's arrays, the Workload's gamma/beta
        int v = variants - 1;
        forwards[v] = forward(baseForward, rows, features, xs[0], ys[0], leads[0], w.gamma, w.beta, mean, invStd);
        names[v] = "BASE " + base + ": " + names[0];
        for (int k = 0; k < 3; k++) block(forwards[v]);
      }
      for (int v = 0; v < variants; v++) System.out.println(label + " variant " + v + ": " + names[v] + " (bytes mod 4096)");
      // Per block: 5 warm and 15 timed rounds, each round one call of the copy and of every variant in turn,
      // so that the variants of a round see the same machine (on this shared VM the load moves a call's time
      // by up to 2x over tens of milliseconds); medians per variant, and each variant's median of its
      // per-round ratio to variant 0 (the paired comparison, insensitive to slow drifts).
      Runnable[] all = new Runnable[variants + 1 + (l1 ? 2 : 0) + (l1 && baseForward != null ? 1 : 0)];
      all[0] = copies[0];
      System.arraycopy(forwards, 0, all, 1, variants);
      if (l1) { // the same rows and bytes again and again from L1 (4096 floats of rows at a time): does a slow round slow the core or the memory?
        int small = Math.max(1, 4096 / features), times = Math.max(1, rows / small);
        float[] sx = Arrays.copyOf(w.x, small * features), sy = new float[small * features];
        Runnable f = forward(small, features, sx, sy, 0, w.gamma, w.beta, new float[small], new float[small]), c = copy(sx, sy, 0, small * features);
        all[variants + 1] = () -> { for (int t = 0; t < times; t++) f.run(); };
        all[variants + 2] = () -> { for (int t = 0; t < times; t++) c.run(); };
        if (baseForward != null) {
          Runnable bf = forward(baseForward, small, features, sx, sy, 0, w.gamma, w.beta, new float[small], new float[small]);
          all[variants + 3] = () -> { for (int t = 0; t < times; t++) bf.run(); };
        }
        for (int k = 0; k < 3; k++) for (int j = variants + 1; j < all.length; j++) block(all[j]);
      }
      double[][] ratios = new double[variants][blocks], paired = new double[variants][blocks];
      double[] l1Paired = new double[blocks];
      for (int k = 0; k < blocks; k++) {
        double[] med = new double[all.length];
        double[] pair = new double[variants];
        long[] bytes = new long[all.length];
        double l1Pair = rounds(all, med, pair, bytes, l1 && baseForward != null ? variants + 1 : -1, variants + 3);
        double c = med[0];
        StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%s block %2d: copy %7.1f us", label, k, c));
        for (int v = 0; v < variants; v++) {
          ratios[v][k] = med[v + 1] / c;
          paired[v][k] = pair[v];
          line.append(String.format(Locale.ROOT, ", v%d %7.1f us %.3f", v, med[v + 1], ratios[v][k]));
        }
        if (l1) line.append(String.format(Locale.ROOT, ", L1 forward %7.1f us, L1 copy %7.1f us", med[variants + 1], med[variants + 2]));
        if (l1 && baseForward != null) {
          l1Paired[k] = l1Pair;
          line.append(String.format(Locale.ROOT, ", L1 BASE forward %7.1f us (L1 forward / BASE per round %.3f)", med[variants + 3], l1Pair));
        }
        line.append("; bytes/call");
        for (long b : bytes) line.append(' ').append(b / 15);
        System.out.println(line);
      }
      for (int v = 1; v < variants; v++) {
        double[] p = paired[v].clone();
        Arrays.sort(p);
        System.out.printf(Locale.ROOT, "%s: v%d / v0 per round, median over blocks %.3f (lowest %.3f, highest %.3f)%n", label, v, p[blocks / 2], p[0], p[blocks - 1]);
      }
      if (l1 && baseForward != null) {
        Arrays.sort(l1Paired);
        System.out.printf(Locale.ROOT, "%s: L1 forward / L1 BASE forward per round, median over blocks %.3f (lowest %.3f, highest %.3f)%n", label,
            l1Paired[blocks / 2], l1Paired[0], l1Paired[blocks - 1]);
      }
      for (int v = 0; v < variants; v++) {
        int l = Math.min(v / gammas.length, leads.length - 1), k = v % gammas.length;
        String now = v >= leads.length * gammas.length ? names[v] : String.format(Locale.ROOT, "x %d y %d gamma %d beta %d", line(xs[l], leads[l]), line(ys[l], leads[l]),
            Addresses.line(gammas[k]), Addresses.line(betas[k]));
        double[] r = ratios[v];
        Arrays.sort(r);
        System.out.printf(Locale.ROOT, "%s: forward / copy median %.3f (lowest %.3f, highest %.3f) over %d blocks; %s%s%n", label,
            r[blocks / 2], r[0], r[blocks - 1], blocks, names[v], now.equals(names[v]) ? "" : " (MOVED during the blocks to " + now + ")");
      }
    }
  }

  private static int[] ints(String list) {
    return Arrays.stream(list.split(",")).mapToInt(Integer::parseInt).toArray();
  }

  private static Runnable forward(int rows, int features, float[] x, float[] y, int at, float[] g, float[] b, float[] mean, float[] invStd) {
    return () -> LayerNorm.forward(rows, features, x, at, g, b, Workload.EPSILON, y, at, mean, invStd);
  }

  private static Runnable forward(MethodHandle f, int rows, int features, float[] x, float[] y, int at, float[] g, float[] b, float[] mean,
                                  float[] invStd) {
    return () -> {
      try {
        f.invokeExact(rows, features, x, at, g, b, Workload.EPSILON, y, at, mean, invStd);
      } catch (Throwable e) {
        throw new IllegalStateException(e);
      }
    };
  }

  /**
   * {@code LayerNorm.forward(float[] ...)} of another jar (e.g. the baseline's benchmarks.jar), loaded in a class
   * loader of its own beside this jar's: the two kernels are timed in the same rounds of one JVM.
   */
  private static MethodHandle baseForward(String jar) {
    try {
      ClassLoader loader = new URLClassLoader(new URL[] {Path.of(jar).toUri().toURL()}, ClassLoader.getPlatformClassLoader());
      Class<?> c = Class.forName("dev.vecnorm.LayerNorm", true, loader);
      return MethodHandles.publicLookup().findStatic(c, "forward", MethodType.methodType(void.class, int.class, int.class, float[].class,
          int.class, float[].class, float[].class, float.class, float[].class, int.class, float[].class, float[].class));
    } catch (ReflectiveOperationException | java.io.IOException e) {
      throw new IllegalArgumentException("--base " + jar + ": no LayerNorm.forward(float[]...) there", e);
    }
  }

  private static Runnable copy(float[] x, float[] y, int at, int n) {
    return () -> BandwidthOps.copy(x, y, at, at + n, 0.5f);
  }

  /** Element {@code at} of {@code a} in bytes mod 4096. */
  private static int line(float[] a, int at) {
    return (int) ((Addresses.data(a) + 4L * at) & 4095);
  }
}
