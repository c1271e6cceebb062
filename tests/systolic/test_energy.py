"""Energy of the systolic room against hand-computed cases (issue 15)."""

import json

import pytest

from imaclab.cli import main
from imaclab.systolic import GemmLayer, SystolicConfig, TpuJob, run, save_topology, simulate_layer
from imaclab.systolic.energy import SystolicEnergy, horowitz_sram_pj_per_byte, layer_energy


def test_mac_energy_by_operand_bits_follows_horowitz():
    e = SystolicEnergy()
    assert e.mac_energy(8) == pytest.approx(0.3e-12)            # 0.2 pJ mult + 0.1 pJ add
    assert e.mac_energy(16) == pytest.approx(0.2e-12 * 4 + 0.1e-12)
    assert e.mac_energy(32) == pytest.approx(3.2e-12 + 0.1e-12)  # Horowitz: 32-bit mult 3.1 pJ
    assert SystolicEnergy(mac_j=1e-12).mac_energy(32) == 1e-12


def test_sram_per_access_by_size_and_word():
    e = SystolicEnergy()
    assert horowitz_sram_pj_per_byte(8 * 1024) == pytest.approx(10 / 8)
    assert horowitz_sram_pj_per_byte(1024 * 1024) == pytest.approx(100 / 8)
    assert e.sram_energy_per_access(32 * 1024, 2) == pytest.approx(2 * 20 / 8 * 1e-12)
    assert SystolicEnergy(sram_j_per_byte=1e-12).sram_energy_per_access(1e9, 4) == pytest.approx(4e-12)


def test_one_gemm_by_hand():
    """4x4x4 GEMM on a 4x4 output-stationary array: 64 MACs; SCALE-Sim's SRAM counts are 16 ifmap
    and 16 filter reads, 16 + (4 + 4) ofmap writes; every word comes from DRAM once."""
    cfg = SystolicConfig(array_rows=4, array_cols=4, dataflow="os", ifmap_sram_kb=8, filter_sram_kb=8,
                         ofmap_sram_kb=8, word_size_bytes=1, clock_hz=1e9)
    report = simulate_layer(cfg, GemmLayer(name="g", m=4, n=4, k=4))
    assert (report.macs, report.sram_ifmap_reads, report.sram_filter_reads, report.sram_ofmap_writes) == (64, 16, 16,
                                                                                                         24)
    energy = SystolicEnergy(static_power_w=2.0, leakage_w_per_pe=0.5, leakage_w_per_sram_kb=0.25)
    e = layer_energy(report, cfg, energy)
    sram_b = 10 / 8 * 1e-12                     # an 8 kB SRAM: 10 pJ per 64-bit read
    assert e.mac_j == pytest.approx(64 * 0.3e-12)
    assert e.sram_j == pytest.approx((16 + 16 + 24) * sram_b)
    assert e.dram_j == pytest.approx(report.dram_bytes * 160e-12)
    assert report.dram_bytes == report.dram_ifmap_reads + report.dram_filter_reads + report.dram_ofmap_writes
    power = 2.0 + 0.5 * 16 + 0.25 * 24
    assert e.leakage_j == pytest.approx(power * report.total_cycles / 1e9)
    assert e.total_j == pytest.approx(e.mac_j + e.sram_j + e.dram_j + e.leakage_j)


def test_run_totals_sum_the_layers_and_are_written(tmp_path, capsys):
    layers = [GemmLayer(name="a", m=8, n=16, k=32), GemmLayer(name="b", m=16, n=8, k=8)]
    topo = save_topology(layers, tmp_path / "g.csv")
    job = TpuJob(systolic="edge-32x32", topology=str(topo)).with_set(["energy.dram_j_per_byte=1e-12"])
    out = tmp_path / "run"
    result = run(job, out_dir=out)
    assert result.energy.total_j == pytest.approx(sum(e.total_j for e in result.energies))
    assert result.energies[0].dram_j == pytest.approx(result.reports[0].dram_bytes * 1e-12)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["energy"]["energy_j"] == pytest.approx(result.energy.total_j)
    assert summary["energy"]["parameters"]["dram_j_per_byte"] == 1e-12
    assert summary["layers"][1]["energy"]["mac_j"] == pytest.approx(16 * 8 * 8 * 0.3e-12)
    csv_rows = (out / "ENERGY_REPORT.csv").read_text().splitlines()
    assert len(csv_rows) == 3 and csv_rows[0].startswith("LayerID, Layer, MAC J")
    # the CLI prints the energy table
    assert main(["tpu", "simulate", "-c", "edge-32x32", "-t", str(topo), "--gemm", "--set",
                 "energy.operand_bits=16", "-o", str(tmp_path / "cli"), "--no-html"]) == 0
    printed = capsys.readouterr().out
    assert "MAC uJ" in printed and "16-bit MACs at 0.9 pJ" in printed


def test_hetero_energy_table_is_the_systolic_one():
    from imaclab.hetero import EnergyTable

    table = EnergyTable()
    assert isinstance(table, SystolicEnergy) and table.mac_j == pytest.approx(0.3e-12)
    assert table.sram_energy_per_byte(8 * 1024) == SystolicEnergy().sram_energy_per_byte(8 * 1024)
