"""RBM and RatingsRBM: course toy numbers, CD/PCD formulas, training behaviour, sampling, bad input."""

import copy
import itertools

import numpy as np
import pytest

import scratchnet
from scratchnet.gradcheck import gradcheck
from scratchnet.optim import SGD
from scratchnet.unsupervised.ratings_rbm import RatingsRBM
from scratchnet.unsupervised.rbm import RBM

# The 7x2 weight matrix printed in the course's RBM lab.
COURSE_W = np.array(
    [
        [-1.324046, -0.65724415],
        [1.0220742, -0.16399099],
        [-0.7053166, 0.20699695],
        [-0.00470642, -0.5750789],
        [0.7478376, 0.16539196],
        [-1.5976839, -0.30889901],
        [0.8178901, -0.98882224],
    ],
    dtype=np.float32,
)
COURSE_V = np.array([[1, 0, 0, 1, 0, 0, 0]], dtype=np.float32)


def sig(x):
    return 1 / (1 + np.exp(-x))


def course_rbm():
    rbm = RBM(7, 2, weight_init="zeros")
    rbm.params["W"][...] = COURSE_W
    rbm.params["hb"][...] = 0.1
    return rbm


def structured_data(n, rng, flip=0.05):
    protos = np.array([[1] * 6 + [0] * 6, [0] * 6 + [1] * 6, [1, 0] * 6], dtype=np.float64)
    x = protos[rng.integers(0, len(protos), n)]
    return np.abs(x - (rng.random(x.shape) < flip)), protos


# -- course toy numbers ------------------------------------------------------------------------------------
def test_course_hidden_probabilities():
    ph = course_rbm().prob_h_given_v(COURSE_V)
    assert ph.shape == (1, 2) and ph.dtype == np.float32
    # The second unit matches the printed 0.24373265 to float32 precision. The first comes out 0.2263998
    # from the W as printed (the lab's W was printed rounded; its 0.2263973 needs W[0,0]+W[3,0] lower by
    # 1.5e-5), so it is held to 3e-6.
    np.testing.assert_allclose(ph[0, 1], 0.24373265, rtol=1e-6)
    np.testing.assert_allclose(ph[0, 0], 0.2263973, atol=3e-6)


def test_course_visible_probabilities_and_input_probability():
    rbm = course_rbm()
    vb = np.array([0.1, 0.2, 0.1, 0.1, 0.1, 0.2, 0.1], dtype=np.float32)
    rbm.params["vb"][...] = vb
    pv = rbm.prob_v_given_h(np.zeros((1, 2), dtype=np.float32))
    np.testing.assert_allclose(pv[0], sig(vb.astype(np.float64)), rtol=1e-6)
    np.testing.assert_allclose(pv[0, :2], [0.5249792, 0.54983395], rtol=1e-6)
    prob = np.prod(np.where(COURSE_V[0] == 1, pv[0], 1 - pv[0]))
    np.testing.assert_allclose(prob, 0.0059864253744900215, rtol=1e-6)


# -- the CD formula ----------------------------------------------------------------------------------------
def small_rbm(seed=0, v=5, h=3):
    scratchnet.seed(seed)
    rbm = RBM(v, h, weight_init="normal", dtype=np.float64)
    rng = np.random.default_rng(seed + 100)
    rbm.params["W"][...] = rng.normal(0, 0.5, (v, h))
    rbm.params["vb"][...] = rng.normal(0, 0.3, v)
    rbm.params["hb"][...] = rng.normal(0, 0.3, h)
    return rbm


def hand_cd(W, vb, hb, v0, start, draws, k=1):
    """CD-k by hand, drawing uniforms from ``draws`` in the documented order; returns (dW, dvb, dhb, vk)."""
    ph0 = sig(v0 @ W + hb)
    ps = sig(start @ W + hb)
    h = (draws.random(ps.shape) < ps).astype(float)
    for step in range(k):
        pv = sig(h @ W.T + vb)
        vk = (draws.random(pv.shape) < pv).astype(float)
        phk = sig(vk @ W + hb)
        if step < k - 1:
            h = (draws.random(phk.shape) < phk).astype(float)
    dW = v0.T @ ph0 / len(v0) - vk.T @ phk / len(vk)
    return dW, v0.mean(0) - vk.mean(0), ph0.mean(0) - phk.mean(0), vk


@pytest.mark.parametrize("k", [1, 3])
def test_cd_update_equals_hand_formula(k):
    rbm = small_rbm()
    v0 = (np.random.default_rng(1).random((4, 5)) < 0.5).astype(np.float64)
    W, vb, hb = (rbm.params[n].copy() for n in ("W", "vb", "hb"))
    rbm.rng = np.random.default_rng(7)
    err = rbm.contrastive_divergence(v0, k=k)
    dW, dvb, dhb, _ = hand_cd(W, vb, hb, v0, v0, np.random.default_rng(7), k=k)
    # grads hold the NEGATIVE likelihood-gradient estimate
    np.testing.assert_allclose(rbm.grads["W"], -dW, atol=1e-12)
    np.testing.assert_allclose(rbm.grads["vb"], -dvb, atol=1e-12)
    np.testing.assert_allclose(rbm.grads["hb"], -dhb, atol=1e-12)
    np.testing.assert_allclose(err, np.mean((v0 - sig(sig(v0 @ W + hb) @ W.T + vb)) ** 2))
    # contrastive_divergence leaves the parameters alone
    np.testing.assert_array_equal(rbm.params["W"], W)


def test_persistent_chain_is_carried_between_updates():
    rbm = small_rbm()
    data = (np.random.default_rng(2).random((8, 5)) < 0.5).astype(np.float64)
    b1, b2 = data[:4], data[4:]
    W, vb, hb = (rbm.params[n].copy() for n in ("W", "vb", "hb"))
    draws = np.random.default_rng(11)
    rbm.rng = np.random.default_rng(11)
    assert rbm.persistent_chain is None
    rbm.contrastive_divergence(b1, k=1, persistent=True)
    # the first PCD call starts its fantasy particles at the batch
    _, _, _, chain1 = hand_cd(W, vb, hb, b1, b1, draws)
    np.testing.assert_array_equal(rbm.persistent_chain, chain1)
    # the second call continues from the stored chain, not from b2
    rbm.contrastive_divergence(b2, k=1, persistent=True)
    dW, dvb, dhb, chain2 = hand_cd(W, vb, hb, b2, chain1, draws)
    np.testing.assert_allclose(rbm.grads["W"], -dW, atol=1e-12)
    np.testing.assert_allclose(rbm.grads["vb"], -dvb, atol=1e-12)
    np.testing.assert_allclose(rbm.grads["hb"], -dhb, atol=1e-12)
    np.testing.assert_array_equal(rbm.persistent_chain, chain2)
    rbm.reset_chain()
    assert rbm.persistent_chain is None


def test_train_step_is_sgd_on_grads_and_matches_optimizer():
    data = (np.random.default_rng(3).random((6, 5)) < 0.5).astype(np.float64)
    a, b = small_rbm(), small_rbm()
    a.rng, b.rng = np.random.default_rng(5), np.random.default_rng(5)
    a.train_step(data, lr=0.3)
    opt = SGD(b, lr=0.3)
    b.contrastive_divergence(data)
    opt.step()
    for name in ("W", "vb", "hb"):
        np.testing.assert_allclose(a.params[name], b.params[name], atol=1e-12)


def test_train_step_momentum_and_weight_decay():
    data = (np.random.default_rng(4).random((6, 5)) < 0.5).astype(np.float64)
    rbm, ref = small_rbm(), small_rbm()
    rbm.rng, ref.rng = np.random.default_rng(9), np.random.default_rng(9)
    lr, mu, wd = 0.2, 0.5, 0.01
    vel = {n: np.zeros_like(p) for n, p in ref.params.items()}
    for _ in range(3):
        rbm.train_step(data, lr=lr, momentum=mu, weight_decay=wd)
        ref.contrastive_divergence(data)
        for n, p in ref.params.items():
            g = ref.grads[n] + (wd * p if n == "W" else 0)
            vel[n] = mu * vel[n] - lr * g
            p += vel[n]
    for n in ("W", "vb", "hb"):
        np.testing.assert_allclose(rbm.params[n], ref.params[n], atol=1e-12)


# -- energies and exact likelihood ----------------------------------------------------------------------
def test_free_energy_and_partition_function_by_enumeration():
    rbm = small_rbm(v=4, h=3)
    W, vb, hb = (rbm.params[n] for n in ("W", "vb", "hb"))
    vs = np.array(list(itertools.product([0, 1], repeat=4)), dtype=np.float64)
    hs = np.array(list(itertools.product([0, 1], repeat=3)), dtype=np.float64)
    energy = -(vs @ vb)[:, None] - (hs @ hb)[None, :] - vs @ W @ hs.T  # E(v, h)
    free = -np.log(np.exp(-energy).sum(axis=1))
    np.testing.assert_allclose(rbm.free_energy(vs), free, atol=1e-10)
    np.testing.assert_allclose(rbm.log_partition(), np.log(np.exp(-energy).sum()), atol=1e-10)
    wide = small_rbm(v=3, h=4)  # enumerates the visible side instead
    vs3 = np.array(list(itertools.product([0, 1], repeat=3)), dtype=np.float64)
    np.testing.assert_allclose(np.exp(-wide.free_energy(vs3) - wide.log_partition()).sum(), 1.0, atol=1e-10)


def test_pseudo_log_likelihood():
    # with a single visible unit the one-bit estimate is the exact log-likelihood
    one = small_rbm(v=1, h=3)
    v = np.array([[0.0], [1.0]])
    np.testing.assert_allclose(one.pseudo_log_likelihood(v), one.log_likelihood(v), atol=1e-10)
    # in general its mean over the random bit is sum_i log p(v_i | v_-i)
    rbm = small_rbm(v=4, h=3)
    x = np.array([[1, 0, 1, 1]], dtype=np.float64)
    exact = 0.0
    for i in range(4):
        f = x.copy()
        f[0, i] = 1 - f[0, i]
        exact += -np.logaddexp(0, -(rbm.free_energy(f)[0] - rbm.free_energy(x)[0]))
    estimate = rbm.pseudo_log_likelihood(np.repeat(x, 20000, axis=0))
    assert abs(estimate - exact) < 0.05 * abs(exact)


# -- learning on structured data --------------------------------------------------------------------------
@pytest.mark.parametrize("persistent", [False, True])
def test_training_lowers_free_energy_of_data_and_error(persistent):
    rng = np.random.default_rng(0)
    data, protos = structured_data(300, rng)
    noise = (rng.random((300, 12)) < 0.5).astype(np.float64)
    scratchnet.seed(1)
    rbm = RBM(12, 6, dtype=np.float64)
    fe_data, fe_noise = rbm.free_energy(data).mean(), rbm.free_energy(noise).mean()
    err0, ll0 = rbm.reconstruction_error(data), rbm.log_likelihood(data)
    errors = rbm.fit(data, epochs=30, batch_size=20, lr=0.1, k=1, persistent=persistent)
    assert len(errors) == 30 * 15
    assert rbm.free_energy(data).mean() < fe_data - 5
    # the data's free energy falls relative to noise: the model puts its mass on the data
    gap0 = fe_noise - fe_data
    assert rbm.free_energy(noise).mean() - rbm.free_energy(data).mean() > gap0 + 2
    assert rbm.reconstruction_error(data) < 0.5 * err0
    assert np.mean(errors[-15:]) < 0.5 * np.mean(errors[:15])
    assert rbm.log_likelihood(data) > ll0 + 2
    assert rbm.log_likelihood(data) > rbm.log_likelihood(noise) + 3
    # fantasies from a long chain look like the prototypes
    samples = rbm.sample(50, k=200)
    hamming = np.abs(samples[:, None, :] - protos[None]).sum(axis=2).min(axis=1)
    assert hamming.mean() < 2.5


def test_zero_initialised_errors():
    # a zero model reconstructs every unit with p = 0.5: mean-field error 0.25, sampled error ~0.5 on bits
    data = (np.random.default_rng(0).random((500, 20)) < 0.2).astype(np.float32)
    rbm = RBM(20, 5, weight_init="zeros")
    assert rbm.reconstruction_error(data) == pytest.approx(0.25)
    assert rbm.reconstruction_error(data, stochastic=True) == pytest.approx(0.5, abs=0.02)


def test_sampling_is_reproducible_with_a_seed():
    def run(seed):
        scratchnet.seed(seed)
        rbm = RBM(8, 4)
        v = np.ones((3, 8), dtype=np.float32)
        return rbm.params["W"].copy(), rbm.gibbs_chain(v, k=5), rbm.sample_h(v)[1]

    a, b, c = run(3), run(3), run(4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    ph, h = RBM(8, 4).sample_h(np.ones((2, 8)))
    assert set(np.unique(h)) <= {0.0, 1.0} and h.shape == ph.shape


def test_sampling_frequencies_follow_probabilities():
    rbm = course_rbm()
    ph, h = rbm.sample_h(np.repeat(COURSE_V, 20000, axis=0))
    np.testing.assert_allclose(h.mean(0), ph[0], atol=0.01)
    pv, _, ph1, _ = rbm.gibbs_hvh(h[:5])
    assert pv.shape == (5, 7) and ph1.shape == (5, 2)


# -- layer behaviour -----------------------------------------------------------------------------------
def test_layer_forward_backward_gradcheck():
    rbm = small_rbm()
    x = np.random.default_rng(0).random((3, 5))
    np.testing.assert_allclose(rbm(x), rbm.prob_h_given_v(x))
    errors = gradcheck(rbm, x)
    assert set(errors) == {"x", "W", "vb", "hb"}
    assert all(e < 1e-6 for e in errors.values()), errors


def test_astype_and_dtype():
    rbm = RBM(6, 2)
    assert rbm.dtype == np.float32
    assert rbm.prob_h_given_v(np.ones((1, 6), dtype=np.float64)).dtype == np.float32
    rbm.astype(np.float64)
    assert rbm.transform(np.ones((1, 6))).dtype == np.float64
    assert rbm.reconstruct(np.ones((2, 6)), hidden="round").shape == (2, 6)
    assert "RBM(6, 2" in repr(rbm)


def test_bad_input():
    rbm = RBM(6, 2)
    with pytest.raises(ValueError, match=r"RBM\(6, 2.*last dimension 6"):
        rbm.prob_h_given_v(np.ones((2, 5)))
    with pytest.raises(ValueError, match="2-D"):
        rbm.prob_h_given_v(np.ones(6))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rbm.contrastive_divergence(np.full((2, 6), 2.0))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rbm.free_energy(np.full((2, 6), np.nan))
    with pytest.raises(ValueError, match="hidden"):
        rbm.prob_v_given_h(np.ones((2, 3)))
    with pytest.raises(TypeError, match="RBM"):
        rbm.prob_h_given_v(np.array([["a"] * 6]))
    with pytest.raises(TypeError, match="RBM"):
        rbm.prob_h_given_v(np.ones((1, 6), dtype=np.complex64))
    with pytest.raises(TypeError):
        RBM(6, 2, dtype=np.float16)
    with pytest.raises(ValueError, match="n_hidden"):
        RBM(6, 0)
    with pytest.raises(ValueError, match="k must"):
        rbm.contrastive_divergence(np.ones((1, 6)), k=0)
    with pytest.raises(ValueError, match="lr"):
        rbm.train_step(np.ones((1, 6)), lr=-1)
    with pytest.raises(ValueError, match="hidden must"):
        rbm.reconstruct(np.ones((1, 6)), hidden="bogus")
    with pytest.raises(RuntimeError):
        RBM(6, 2).backprop(np.ones((1, 2)))
    # integer and boolean bits are fine
    assert rbm.prob_h_given_v(np.ones((1, 6), dtype=np.int64)).shape == (1, 2)


# -- ratings RBM ----------------------------------------------------------------------------------------
def planted_ratings(rng, n_users=240, n_items=30, n_groups=3, rated_frac=0.5):
    """Users in taste groups; each group loves its own block of items (4-5 stars), dislikes others (1-2)."""
    group = rng.integers(0, n_groups, n_users)
    item_group = np.arange(n_items) % n_groups
    likes = group[:, None] == item_group[None, :]
    stars = np.where(likes, rng.integers(4, 6, (n_users, n_items)), rng.integers(1, 3, (n_users, n_items)))
    rated = rng.random((n_users, n_items)) < rated_frac
    return np.where(rated, stars / 5.0, 0.0), group, item_group


@pytest.mark.parametrize("mask_unrated", [False, True])
def test_ratings_rbm_recommends_planted_items(mask_unrated):
    rng = np.random.default_rng(0)
    ratings, group, item_group = planted_ratings(rng, rated_frac=0.6)
    scratchnet.seed(0)
    rbm = RatingsRBM(30, 3, mask_unrated=mask_unrated)
    err0 = rbm.reconstruction_error(ratings)
    errors = rbm.fit(ratings, epochs=60, batch_size=20, lr=1.0)
    assert np.mean(errors[-12:]) < np.mean(errors[:12])
    assert rbm.reconstruction_error(ratings) < err0
    hits = possible = top1 = 0
    for user in range(40):
        idx, scores = rbm.recommend(ratings[user], top_n=3)
        assert not np.any(ratings[user, idx] > 0)  # rated items are excluded
        assert np.all(np.diff(scores) <= 0)
        hits += int(np.sum(item_group[idx] == group[user]))
        top1 += int(item_group[idx[0]] == group[user])
        # a user who already rated most of their favourites cannot get 3 unrated ones
        possible += min(3, int(np.sum((item_group == group[user]) & (ratings[user] == 0))))
    # a taste-blind ranking would hit about a third; users with few ratings stay ambiguous
    assert hits >= 0.85 * possible
    assert top1 >= 0.85 * 40


def test_ratings_rbm_recommend_api_and_errors():
    scratchnet.seed(0)
    rbm = RatingsRBM(6, 2)
    user = np.array([1.0, 0.8, 0, 0, 0.2, 0])
    idx, scores = rbm.recommend(user, top_n=20)
    assert sorted(idx.tolist()) == [2, 3, 5] and len(scores) == 3  # only unrated items, list cut to 3
    idx_all, scores_all = rbm.recommend(user, top_n=4, exclude_rated=False)
    assert idx_all.shape == (4,) and np.all((scores_all > 0) & (scores_all < 1))
    np.testing.assert_allclose(scores_all, rbm.predict(user[None])[0, idx_all], rtol=1e-6)
    batch_idx, batch_scores = rbm.recommend(np.stack([user, np.zeros(6)]), top_n=4)
    assert batch_idx.shape == (2, 4) and batch_idx[0, 3] == -1 and np.isnan(batch_scores[0, 3])
    assert sorted(batch_idx[1].tolist()) == sorted(np.argsort(-rbm.predict(np.zeros((1, 6)))[0])[:4].tolist())
    with pytest.raises(ValueError, match="RatingsRBM"):
        rbm.recommend(np.ones(5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rbm.recommend(np.array([5.0, 0, 0, 0, 0, 0]))  # stars, not scaled ratings
    with pytest.raises(ValueError, match="persistent"):
        RatingsRBM(6, 2, mask_unrated=True).contrastive_divergence(user[None], persistent=True)


def test_ratings_rbm_is_mean_field_and_masks_unrated():
    rbm = RatingsRBM(4, 2, dtype=np.float64, mask_unrated=True)
    rbm.params["W"][...] = np.random.default_rng(0).normal(0, 0.5, (4, 2))
    v0 = np.array([[0.8, 0.0, 0.4, 0.0]])
    W, vb, hb = (copy.deepcopy(rbm.params[n]) for n in ("W", "vb", "hb"))
    rbm.rng = np.random.default_rng(3)
    rbm.contrastive_divergence(v0)
    ph0 = sig(v0 @ W + hb)
    h = (np.random.default_rng(3).random(ph0.shape) < ph0).astype(float)
    v1 = sig(h @ W.T + vb) * (v0 > 0)  # mean-field reconstruction, unrated entries zeroed
    ph1 = sig(v1 @ W + hb)
    np.testing.assert_allclose(rbm.grads["W"], -(v0.T @ ph0 - v1.T @ ph1), atol=1e-12)
    np.testing.assert_allclose(rbm.grads["vb"], -(v0 - v1)[0], atol=1e-12)
    # the observed-only error ignores the unrated entries
    rec = rbm.predict(v0)
    np.testing.assert_allclose(rbm.reconstruction_error(v0), np.mean((v0 - rec)[0, [0, 2]] ** 2))
    np.testing.assert_allclose(rbm.reconstruction_error(v0, observed_only=False), np.mean((v0 - rec) ** 2))


def test_split_modules_are_one_model():
    import subprocess
    import sys

    import scratchnet.unsupervised.ratings_rbm
    import scratchnet.unsupervised.rbm_monitoring
    import scratchnet.unsupervised.rbm_training

    assert RatingsRBM is scratchnet.unsupervised.ratings_rbm.RatingsRBM
    assert issubclass(RatingsRBM, RBM)
    # training and monitoring moved out of the class body, but stay the RBM's own methods
    assert RBM.fit is scratchnet.unsupervised.rbm_training.RBMTraining.fit
    assert (
        RBM.pseudo_log_likelihood
        is scratchnet.unsupervised.rbm_monitoring.RBMMonitoring.pseudo_log_likelihood
    )
    # ratings_rbm imports rbm, never the other way (tests/test_package_imports.py checks for cycles)
    code = "from scratchnet.unsupervised.ratings_rbm import RatingsRBM\nfrom scratchnet.unsupervised.rbm import RBM\nassert issubclass(RatingsRBM, RBM)\n"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
