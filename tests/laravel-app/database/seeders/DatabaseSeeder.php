<?php

namespace Database\Seeders;

use Illuminate\Database\Seeder;
use Illuminate\Support\Facades\DB;

class DatabaseSeeder extends Seeder
{
    /**
     * Seed the application's database: a few products and their movements.
     *
     * @return void
     */
    public function run()
    {
        $now = '2024-01-01 08:00:00';

        $products = [
            ['MED-0001', 'Paracétamol 500 mg', 'boîte', 20],
            ['MED-0002', 'Amoxicilline 250 mg', 'flacon', 10],
            ['MED-0003', 'Gants nitrile M', 'unité', 100],
            ['MED-0004', 'Compresses stériles', 'boîte', 30],
            ['MED-0005', 'Sérum physiologique', 'flacon', 50],
        ];

        foreach ($products as [$code, $name, $unit, $seuil]) {
            DB::table('products')->insert([
                'code' => $code,
                'name' => $name,
                'unit' => $unit,
                'seuil_alerte' => $seuil,
                'created_at' => $now,
                'updated_at' => $now,
            ]);
        }

        $ids = DB::table('products')->orderBy('id')->pluck('id', 'code');

        foreach ($ids as $code => $id) {
            DB::table('receptions')->insert([
                'product_id' => $id,
                'quantite' => 120,
                'lot' => 'LOT-'.$code,
                'date_peremption' => '2027-06-30',
                'fournisseur' => 'Pharmacie centrale',
                'date_reception' => '2024-01-02',
                'created_at' => $now,
                'updated_at' => $now,
            ]);

            DB::table('sorties')->insert([
                'product_id' => $id,
                'quantite' => 15,
                'service' => 'Maternité',
                'motif' => 'Consommation',
                'date_sortie' => '2024-01-03',
                'created_at' => $now,
                'updated_at' => $now,
            ]);

            DB::table('products')->where('id', $id)->update(['stock' => 105]);

            DB::table('inventaires')->insert([
                'product_id' => $id,
                'stock_theorique' => 105,
                'stock_physique' => 104,
                'date_inventaire' => '2024-01-31',
                'observation' => 'Écart constaté',
                'created_at' => $now,
                'updated_at' => $now,
            ]);
        }
    }
}
