import jdk.incubator.vector.*;
import java.util.concurrent.*;
public class Smt2 {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  static volatile float sink;
  // throughput-bound: 12 independent add chains (add latency 3, 2 ports -> need >= 6)
  static float work(long n) {
    FloatVector k = FloatVector.broadcast(S, 1e-7f);
    FloatVector a0 = k, a1 = k, a2 = k, a3 = k, a4 = k, a5 = k, a6 = k, a7 = k, a8 = k, a9 = k, a10 = k, a11 = k;
    for (long i = 0; i < n; i++) { a0 = a0.add(k); a1 = a1.add(k); a2 = a2.add(k); a3 = a3.add(k); a4 = a4.add(k); a5 = a5.add(k); a6 = a6.add(k); a7 = a7.add(k); a8 = a8.add(k); a9 = a9.add(k); a10 = a10.add(k); a11 = a11.add(k); }
    return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11).reduceLanes(VectorOperators.ADD);
  }
  static float read(float[] x, int reps) {
    FloatVector a = FloatVector.zero(S), b = a, c = a, d = a; int L = S.length();
    for (int r = 0; r < reps; r++) for (int i = 0; i < x.length; i += 4 * L) { a = a.add(FloatVector.fromArray(S, x, i)); b = b.add(FloatVector.fromArray(S, x, i + L)); c = c.add(FloatVector.fromArray(S, x, i + 2*L)); d = d.add(FloatVector.fromArray(S, x, i + 3*L)); }
    return a.add(b).add(c).add(d).reduceLanes(VectorOperators.ADD);
  }
  public static void main(String[] args) throws Exception {
    long n = 100_000_000L; int kb = Integer.parseInt(args[0]);
    float[] x1 = new float[kb * 256], x2 = new float[kb * 256];
    int reps = (int) (4_000_000_000L / (kb * 256L));
    ExecutorService ex = Executors.newSingleThreadExecutor();
    for (int w = 0; w < 3; w++) { sink = work(n / 10); sink = read(x1, reps / 10); ex.submit(() -> { sink = work(n / 10); sink = read(x2, reps / 10); }).get(); }
    for (int round = 0; round < 4; round++) {
      long t0 = System.nanoTime(); sink = work(n); long t1 = System.nanoTime();
      Future<Long> f = ex.submit(() -> { long s = System.nanoTime(); sink = work(n); return System.nanoTime() - s; });
      long s2 = System.nanoTime(); sink = work(n); long own = System.nanoTime() - s2; long other = f.get();
      long t3 = System.nanoTime(); sink = read(x1, reps); long t4 = System.nanoTime();
      Future<Long> g = ex.submit(() -> { long s = System.nanoTime(); sink = read(x2, reps); return System.nanoTime() - s; });
      long s3 = System.nanoTime(); sink = read(x1, reps); long own2 = System.nanoTime() - s3; long other2 = g.get();
      System.out.printf("add-tput: 1T %.0f ms, 2T own %.0f other %.0f | read %d KB: 1T %.0f, 2T own %.0f other %.0f%n", (t1-t0)/1e6, own/1e6, other/1e6, kb, (t4-t3)/1e6, own2/1e6, other2/1e6);
    }
    ex.shutdown();
  }
}
