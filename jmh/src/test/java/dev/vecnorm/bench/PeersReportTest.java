package dev.vecnorm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.bench.PeersReport.Case;
import dev.vecnorm.bench.PeersReport.Reply;
import dev.vecnorm.bench.PeersReport.Row;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The peers table: worker replies, best-of-rounds, the ratio to the best peer, the byte model, and the JSON round trip. */
class PeersReportTest {

  static final Case NC_TRAIN = new Case("NC:256x1024", "trainingForward", false, 1);

  /** A row whose sides all return checksum 100, the reference. */
  static Row row(Case c, double vecnormNs, double onednnNs, double torchNs) {
    Row r = new Row(c, 100.0);
    r.side(PeersReport.VECNORM).add(new Reply(true, false, vecnormNs, 100.0, "BatchNorm"));
    if (onednnNs > 0) r.side(PeersReport.ONEDNN).add(new Reply(true, false, onednnNs, 100.0, "nhwc"));
    if (torchNs > 0) r.side(PeersReport.PYTORCH).add(new Reply(true, false, torchNs, 100.0, "default"));
    return r;
  }

  @Test
  void parsesTheThreeReplies() {
    Reply ok = Reply.parse("result 1725721.5 1458607.88 nhwc:1xNx1xC");
    assertTrue(ok.ok());
    assertEquals(1725721.5, ok.ns());
    assertEquals(1458607.88, ok.checksum());
    assertEquals("nhwc:1xNx1xC", ok.detail());

    Reply na = Reply.parse("unsupported PyTorch 1.13 has no in-place batch norm");
    assertFalse(na.ok());
    assertTrue(na.unsupported());
    assertEquals("PyTorch 1.13 has no in-place batch norm", na.detail());

    Reply err = Reply.parse("error could not execute a primitive");
    assertFalse(err.ok() || err.unsupported());
    assertEquals("could not execute a primitive", err.detail());
  }

  @Test
  void badRepliesAreErrorsNotNumbers() {
    for (String line : new String[] {null, "", "ok", "result abc 1", "result 0 1 x", "result -5 1 x", "result 5"}) {
      Reply r = Reply.parse(line);
      assertFalse(r.ok(), String.valueOf(line));
      assertFalse(r.unsupported(), String.valueOf(line));
    }
  }

  @Test
  void keepsTheBestMedianOverRounds() {
    Row r = new Row(NC_TRAIN, Double.NaN);
    PeersReport.Best b = r.side(PeersReport.ONEDNN);
    b.add(new Reply(true, false, 300, 1, "nc"));
    b.add(new Reply(true, false, 200, 1, "nhwc"));
    b.add(Reply.error("worker exited")); // a later failure keeps the earlier measurement
    b.add(new Reply(true, false, 250, 1, "nc"));
    assertEquals(200, b.ns);
    assertEquals("nhwc", b.detail);
    assertEquals(List.of(300.0, 200.0, 250.0), b.rounds);
    assertEquals("ok", b.status);
  }

  /** Rounds of vecnorm or of the best peer that disagree by more than 1.25x are listed under the table; closer ones are not. */
  @Test
  void listsCasesWhoseRoundsSpread() {
    Row steady = row(NC_TRAIN, 100_000, 120_000, 0);
    steady.side(PeersReport.VECNORM).add(new Reply(true, false, 124_000, 100.0, "BatchNorm")); // 1.24x: not listed
    Case slowCase = new Case("NC:4096x256", "trainingForward", false, 2);
    Row slow = row(slowCase, 335_000, 360_000, 0);
    slow.side(PeersReport.VECNORM).add(new Reply(true, false, 626_000, 100.0, "BatchNorm")); // a slow-state round: 1.87x
    slow.side(PeersReport.ONEDNN).add(new Reply(true, false, 370_000, 100.0, "nc"));
    assertEquals("", PeersReport.spread(List.of(steady)));
    String note = PeersReport.spread(List.of(steady, slow));
    assertEquals(2, note.lines().count(), note); // the heading and one case
    assertTrue(note.contains("- NC:4096x256 " + slowCase.label() + ", 2 thread(s): vecnorm 335–626 µs (1.87×); oneDNN 360–370 µs (1.03×)"), note);
    assertEquals(335_000, slow.sides().get(PeersReport.VECNORM).ns); // the table keeps the best round
    assertTrue(PeersReport.render(List.of(steady, slow)).contains(note), "render includes the note");
  }

  @Test
  void ratioIsBestPeerOverVecnorm() {
    Row r = row(NC_TRAIN, 100, 150, 120);
    assertEquals(PeersReport.PYTORCH, r.bestPeer());
    assertEquals(1.2, r.ratio(), 1e-12);
    assertEquals(0.5, row(NC_TRAIN, 100, 50, 0).ratio(), 1e-12); // PyTorch missing: oneDNN alone
    assertTrue(Double.isNaN(row(NC_TRAIN, 100, 0, 0).ratio()));
  }

  @Test
  void aPeerWithADifferentResultIsNotRanked() {
    Row r = row(NC_TRAIN, 100, 150, 0);
    r.side(PeersReport.PYTORCH).add(new Reply(true, false, 10, 101, "default")); // 1e-2 off the reference: wrong
    assertFalse(r.checksumAgrees(PeersReport.PYTORCH));
    assertTrue(r.checksumAgrees(PeersReport.ONEDNN));
    assertEquals(PeersReport.ONEDNN, r.bestPeer());
    assertEquals(1.5, r.ratio(), 1e-12);
    String table = PeersReport.render(List.of(r));
    assertTrue(table.contains("(wrong result)"), table);
    assertTrue(table.contains("PyTorch computes a wrong result on NC:256x1024 training fwd, 1 thread(s): checksum 101.000000, 1.0e-02 off the float64 reference"), table);
    assertTrue(table.contains("largest relative distance: vecnorm 0.0e+00 (NC:256x1024 training fwd), oneDNN 0.0e+00"), table);
  }

  /** Float rounding is not a wrong result: 2e-4 from the reference (as oneDNN and PyTorch at 800k values per channel) still ranks. */
  @Test
  void roundingIsNotAWrongResult() {
    Row r = new Row(NC_TRAIN, 1000.0);
    r.side(PeersReport.VECNORM).add(new Reply(true, false, 100, 1000.001, "BatchNorm"));
    r.side(PeersReport.ONEDNN).add(new Reply(true, false, 80, 1000.2, "nhwc"));
    assertTrue(r.checksumAgrees(PeersReport.ONEDNN));
    assertEquals(0.8, r.ratio(), 1e-12);
    assertEquals(2e-4, r.deviation(PeersReport.ONEDNN), 1e-9);
  }

  @Test
  void aWrongVecnormHasNoRatio() {
    Row r = new Row(NC_TRAIN, 1000.0);
    r.side(PeersReport.VECNORM).add(new Reply(true, false, 100, 990, "BatchNorm"));
    r.side(PeersReport.ONEDNN).add(new Reply(true, false, 80, 1000, "nhwc"));
    assertTrue(Double.isNaN(r.ratio()));
    assertTrue(PeersReport.render(List.of(r)).contains("vecnorm computes a wrong result"));
  }

  @Test
  void withoutAReferencePeersAreCheckedAgainstVecnorm() {
    Row r = new Row(NC_TRAIN, Double.NaN);
    r.side(PeersReport.VECNORM).add(new Reply(true, false, 100, 1000, "BatchNorm"));
    r.side(PeersReport.ONEDNN).add(new Reply(true, false, 80, 1100, "nhwc"));
    assertFalse(r.checksumAgrees(PeersReport.ONEDNN));
    assertTrue(r.checksumAgrees(PeersReport.VECNORM));
    assertTrue(PeersReport.render(List.of(r)).contains("off vecnorm's"));
  }

  @Test
  void bytesFollowTheBandwidthProbe() {
    long n = 256 * 1024;
    assertEquals(3 * n * 4.0, NC_TRAIN.bytes());
    assertEquals(2 * n * 4.0, new Case("NC:256x1024", "inferenceForward", true, 2).bytes());
    assertEquals(5 * 64 * 56 * 56 * 64 * 4.0, new Case("NHWC:64x56x56x64", "backward", false, 1).bytes());
    // 3 MB moved in 100 µs is 31.5 GB/s
    assertEquals("31.5", PeersReport.gbps(row(NC_TRAIN, 100_000, 0, 0), PeersReport.VECNORM));
  }

  @Test
  void tableMarksLossesAndCountsWins() {
    Case inPlace = new Case("NHWC:64x56x56x64", "inferenceForward", true, 1);
    List<Row> rows = List.of(row(NC_TRAIN, 100_000, 150_000, 0), row(inPlace, 10_000_000, 8_000_000, 0));
    String table = PeersReport.render(rows);
    assertTrue(table.contains("| 256x1024 | NC | training fwd | 1 | 100 | 150 | - | 1.50× | 31.5 | 21.0 |"), table);
    assertTrue(table.contains("| 64x56x56x64 | NHWC | inference fwd, y = x | 1 | 10000 | 8000 | - | **0.80×** |"), table);
    assertTrue(table.contains("1 thread: vecnorm at or above 1.0× the best peer in 1 of 2 cases; lowest 0.80× (NHWC:64x56x56x64 inference fwd, y = x)."), table);
  }

  @Test
  void unsupportedAndFailedSidesShowAsSuch() {
    Row r = row(NC_TRAIN, 100, 150, 0);
    r.side(PeersReport.PYTORCH).add(Reply.parse("unsupported no in-place kernel"));
    assertEquals("n/a", PeersReport.micros(r, PeersReport.PYTORCH));
    Row failed = row(NC_TRAIN, 100, 0, 0);
    failed.side(PeersReport.ONEDNN).add(Reply.parse("error could not execute a primitive"));
    assertEquals("error", PeersReport.micros(failed, PeersReport.ONEDNN));
    assertTrue(PeersReport.render(List.of(failed)).contains("oneDNN failed on NC:256x1024 training fwd, 1 thread(s): could not execute a primitive"));
  }

  @Test
  void jsonRoundTrips() {
    Row r = row(new Case("NCHW:7x13x13x17", "backward", false, 2), 1234.5, 2000, 3000);
    r.side(PeersReport.ONEDNN).add(new Reply(true, false, 1900, 100.0, "nchw"));
    String json = PeersReport.json(Map.of("date", "now"), List.of(r));
    List<Row> back = PeersReport.load(json);
    assertEquals(1, back.size());
    Row b = back.get(0);
    assertEquals(r.c(), b.c());
    assertEquals(1234.5, b.side(PeersReport.VECNORM).ns);
    assertEquals(100.0, b.reference());
    assertEquals(1900, b.side(PeersReport.ONEDNN).ns);
    assertEquals(List.of(2000.0, 1900.0), b.side(PeersReport.ONEDNN).rounds);
    assertEquals(PeersReport.render(List.of(r)), PeersReport.render(back));
    assertThrows(IllegalArgumentException.class, () -> PeersReport.load("[1, 2]"));
    assertThrows(IllegalArgumentException.class, () -> PeersReport.load("{\"results\": [{\"shape\": \"NC:2x2\"}]}"));
  }

  @Test
  void csvHasOneLinePerSideAndCase() {
    String csv = PeersReport.csv(List.of(row(NC_TRAIN, 100, 150, 0)));
    String[] lines = csv.split("\n");
    assertEquals(3, lines.length);
    assertEquals("NC:256x1024,NC,trainingForward,false,1,oneDNN,ok,150.0,150.0,100.000000,100.000000,\"nhwc\"", lines[2]);
  }

  /** The data hash against a reference in 64-bit arithmetic masked to 32 bits, as C++ and NumPy compute it. */
  @Test
  void dataHashMatchesUnsigned32BitArithmetic() {
    for (long i : new long[] {0, 1, 2, 12345, 0x5BD1E995L, 12_845_055, 0x7FFFFFFFL}) {
      long h = (i * 0x9E3779B1L) & 0xFFFFFFFFL;
      h ^= h >>> 15;
      h = (h * 0x85EBCA77L) & 0xFFFFFFFFL;
      h ^= h >>> 13;
      float expected = (float) ((h >>> 8) / 16777216.0);
      assertEquals(expected, VecnormSide.hashUnit((int) i), "i=" + i);
    }
    assertEquals(0f, VecnormSide.hashUnit(0));
  }

  /** vecnorm's outputs, checksummed as every side does, land on the float64 reference on awkward shapes of each layout. */
  @Test
  void vecnormMatchesTheFloat64Reference() {
    try (VecnormSide side = new VecnormSide()) {
      for (String shape : List.of("NHWC:3x5x7x13", "NCHW:3x5x7x13", "NC:37x19")) {
        side.shape(shape);
        Map<String, Double> reference = side.reference();
        for (Case c : Peers.cases(shape, new int[] {1, 2})) {
          Reply r = side.run(c, 0, 0);
          assertTrue(r.ok(), c + ": " + r.detail());
          double expected = reference.get(c.op());
          assertEquals(expected, r.checksum(), 1e-5 * Math.abs(expected), c.toString());
        }
      }
    }
  }

  @Test
  void medianOfOddAndEvenCounts() {
    assertEquals(3, VecnormSide.median(new double[] {5, 1, 3}));
    assertEquals(2.5, VecnormSide.median(new double[] {4, 1, 3, 2}));
  }

  @Test
  void casesCoverForwardInPlaceAndBackwardOutOfPlace() {
    List<Case> cases = Peers.cases("NC:8x4", new int[] {1, 2});
    assertEquals(10, cases.size());
    assertTrue(cases.contains(new Case("NC:8x4", "inferenceForward", true, 2)));
    assertFalse(cases.contains(new Case("NC:8x4", "backward", true, 1)));
    assertNull(new Row(NC_TRAIN, Double.NaN).bestPeer());
  }
  @Test
  void nativeLayerNormRowsAreOptInAndAskThePeersForThePlainOperation() {
    assertFalse(NormsSide.cases("NC:8x4", new int[] {1}).stream().anyMatch(c -> c.op().endsWith(NormsSide.NATIVE)));
    NormsSide.nativeRows = true;
    try {
      List<Case> cases = NormsSide.cases("NC:8x4", new int[] {1});
      Case n = new Case("NC:8x4", "layerNorm.trainingForward" + NormsSide.NATIVE, false, 1);
      assertTrue(cases.contains(n));
      assertTrue(cases.contains(new Case("NC:8x4", "layerNorm.inferenceForward" + NormsSide.NATIVE, false, 1)));
      assertTrue(cases.contains(new Case("NC:8x4", "layerNorm.trainingForward", false, 1)), "the float[] row stays");
      assertFalse(NormsSide.cases("NHWC:2x2x2x4", new int[] {1}).stream().anyMatch(c -> c.op().endsWith(NormsSide.NATIVE)));
      assertEquals("layerNorm.trainingForward", n.peerOp());
      assertEquals("run layerNorm.trainingForward out 1 60 150", Peers.request(n, 60, 150));
      assertEquals("layer_norm training fwd, vecnorm native 64-byte aligned", n.label());
      assertEquals("layerNorm", n.family());
      assertEquals(2 * 32 * 4.0, n.bytes()); // one read and one write, as the float[] row
      // The native rows run the single-threaded facade: with --threads 1,2 they get a 1-thread case only.
      List<Case> both = NormsSide.cases("NC:8x4", new int[] {1, 2});
      assertFalse(both.stream().anyMatch(c -> c.op().endsWith(NormsSide.NATIVE) && c.threads() != 1));
      assertTrue(both.contains(new Case("NC:8x4", "layerNorm.trainingForward", false, 2)), "float[] rows keep 2 threads");
    } finally {
      NormsSide.nativeRows = false;
    }
  }

  /** --bn-native: every batch-norm case again on aligned native segments, its checksum on the same float64 reference. */
  @Test
  void nativeBatchNormRowsAreOptInAndMatchTheFloat64Reference() {
    assertFalse(Peers.cases("NC:8x4", new int[] {1, 2}).stream().anyMatch(c -> c.op().endsWith(NormsSide.NATIVE)));
    VecnormSide.nativeRows = true;
    try (VecnormSide side = new VecnormSide()) {
      List<Case> cases = Peers.cases("NC:8x4", new int[] {1, 2});
      assertEquals(20, cases.size()); // the 10 float[] cases, each again native
      Case n = new Case("NC:8x4", "inferenceForward" + NormsSide.NATIVE, true, 2);
      assertTrue(cases.contains(n));
      assertEquals("run inferenceForward in 2 60 150", Peers.request(n, 60, 150));
      assertEquals("inference fwd, vecnorm native 64-byte aligned, y = x", n.label());
      assertEquals(2 * 32 * 4.0, n.bytes());
      assertEquals(List.of("backward", "backward" + NormsSide.NATIVE),
          Peers.selected("NC:8x4", new int[] {1}, false, java.util.Set.of("backward")).stream().map(Case::op).toList());
      for (String shape : List.of("NHWC:3x5x7x13", "NCHW:3x5x7x13", "NC:37x19")) {
        side.shape(shape);
        Map<String, Double> reference = side.reference();
        for (Case c : Peers.cases(shape, new int[] {1, 2})) {
          if (!c.op().endsWith(NormsSide.NATIVE)) continue;
          Reply r = side.run(c, 0, 0);
          assertTrue(r.ok(), c + ": " + r.detail());
          assertTrue(r.detail().endsWith("native segments"), r.detail());
          double expected = reference.get(c.peerOp());
          assertEquals(expected, r.checksum(), 1e-5 * Math.abs(expected), c.toString());
        }
      }
    } finally {
      VecnormSide.nativeRows = false;
    }
  }
}
