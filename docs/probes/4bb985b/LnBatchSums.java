package dev.vecnorm.internal;

/**
 * LayerNorm's row sums for narrow rows in one JVM, alternating: blockSums row by row (each row's rotation tree) against
 * batchSums (LANES rows' lane sums combined pairwise), bits checked equal; ns a row, best of 7 passes over the rows,
 * per round, then the median per-round ratio. args: ROWS FEATURES (run as dev.vecnorm.internal.LnBatchSums).
 */
public class LnBatchSums {
  public static void main(String[] a) {
    int rows = Integer.parseInt(a[0]), f = Integer.parseInt(a[1]), L = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
    rows -= rows % L;
    float[] x = new float[rows * f];
    java.util.Random r = new java.util.Random(1);
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    float[] t1 = new float[2 * rows], t2 = new float[2 * rows + 2 * L * L];
    int vAt = 2 * rows;
    double[] ratio = new double[21];
    double sumA = 0, sumB = 0;
    for (int round = -10; round < 21; round++) {
      long bestA = Long.MAX_VALUE, bestB = Long.MAX_VALUE;
      for (int rep = 0; rep < 7; rep++) {
        long t0 = System.nanoTime();
        for (int i = 0; i < rows; i++) {
          long s = PanamaLayerNormSupport.blockSums(x, i * f, 1, f, f, x[i * f]);
          t1[2 * i] = Float.intBitsToFloat((int) (s >>> 32));
          t1[2 * i + 1] = Float.intBitsToFloat((int) s);
        }
        long t1n = System.nanoTime();
        for (int i = 0; i < rows; i += L) PanamaLayerNormSupport.batchSums(x, i * f, f, t2, 2 * i, vAt);
        long t2n = System.nanoTime();
        bestA = Math.min(bestA, t1n - t0);
        bestB = Math.min(bestB, t2n - t1n);
      }
      for (int i = 0; i < 2 * rows; i++) {
        if (Float.floatToRawIntBits(t1[i]) != Float.floatToRawIntBits(t2[i])) throw new AssertionError("bits differ at " + i);
      }
      if (round >= 0) { ratio[round] = (double) bestB / bestA; sumA += bestA; sumB += bestB; }
    }
    java.util.Arrays.sort(ratio);
    System.out.printf("%dx%d rows apart %.1f ns a row, batched %.1f; batched / rows apart median %.3f (%.3f-%.3f)%n", rows, f,
        sumA / 21 / rows, sumB / 21 / rows, ratio[10], ratio[0], ratio[20]);
  }
}
