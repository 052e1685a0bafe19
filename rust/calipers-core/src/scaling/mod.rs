//! Skill scaling laws across LLM families (Sloth; the latent-variable framework of Cai et al.).

pub mod random;
